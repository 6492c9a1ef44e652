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
//	pg, rd, err = debimage.EnsureServiceImages(ctx, ".cache/kindnode", imagebuild.MachineCacheDir(root), logf)
//
// The PostgreSQL image (15, Debian's) runs as UID 999 and needs POSTGRES_PASSWORD on its first
// start (POSTGRES_USER, POSTGRES_DB optional); PGDATA is /var/lib/postgresql/data/pgdata, so
// mount a volume at /var/lib/postgresql/data, and an emptyDir at /tmp (its socket) when the
// root filesystem is read-only. The Redis image runs as UID 999, listens on 6379 with
// REDIS_PASSWORD as its password when set, and keeps nothing on disk.
package debimage
