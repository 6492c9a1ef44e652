// Package debimage builds Debian-based container images with the local Docker engine and no
// registry: a minimal Debian base made by debootstrap from the machine's own apt mirror, and
// images layered on it (the PostgreSQL and Redis images the cluster tests use, and the kind
// node image's parts in package kindnode).
//
// Every image is tagged with a hash of its inputs, so a build whose tag already exists is
// skipped. Each build step runs through a Steps runner that prints progress with elapsed time
// and keeps the step's full output under a log directory, naming the step when it fails.
//
// Stable API:
//
//	steps := debimage.NewSteps(logf, logDir)
//	base, err := debimage.EnsureBase(ctx, steps, debimage.BaseOptions{})
//	pg, err := debimage.EnsurePostgres(ctx, steps, base, outDir) // tag + tarball path
//	rd, err := debimage.EnsureRedis(ctx, steps, base, outDir)
package debimage
