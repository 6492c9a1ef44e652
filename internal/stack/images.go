// Package stack stands the application up on a cluster the way the integration tests and
// `make demo` need it: the image tarballs (built when missing), the dependencies the server
// checks (real PostgreSQL and Redis from Debian-built images, the LLM stand-in) in a
// namespace, and the chart values that point the release at them.
package stack

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/debimage"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/imagebuild"
)

// Versions are the server versions the tests and the demo cut over between.
var Versions = []string{"v1.0.0", "v2.0.0"}

// Images are the images the stack runs, each with the tarball that loads it into a node.
type Images struct {
	// Server maps a version to its image ("ai-assistant:<version>").
	Server   map[string]Image
	Standin  Image
	Postgres Image
	Redis    Image
}

// Image is a tagged image and its docker-save tarball.
type Image struct {
	Ref     string
	Tarball string
}

// Tarballs lists every tarball, for cluster.LoadImageArchives.
func (i Images) Tarballs() []string {
	return append(i.ServerTarballs(), i.DependencyTarballs()...)
}

// ServerTarballs are the server's tarballs, one per version.
func (i Images) ServerTarballs() []string {
	var out []string
	for _, v := range Versions {
		if s, ok := i.Server[v]; ok {
			out = append(out, s.Tarball)
		}
	}
	return out
}

// DependencyTarballs are the stand-in's, PostgreSQL's and Redis's tarballs.
func (i Images) DependencyTarballs() []string {
	return []string{i.Standin.Tarball, i.Postgres.Tarball, i.Redis.Tarball}
}

// EnsureImages builds whatever image is missing: the server at every version and the stand-in
// with go-containerregistry, PostgreSQL and Redis on the Debian base with Docker. Unchanged
// inputs are skipped, so a warm call takes seconds.
func EnsureImages(ctx context.Context, repoRoot string, logf func(string, ...any)) (Images, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	b := imagebuild.NewBuilder(repoRoot, logf)
	// PostgreSQL's and Redis's tarballs stay in the machine's image cache: a fresh clone then
	// saves neither again.
	out := imagebuild.MachineCacheDir(repoRoot)
	imgs := Images{Server: map[string]Image{}}
	for _, v := range Versions {
		for _, spec := range imagebuild.Images {
			if spec.Name == "llm-standin" && v != Versions[0] {
				continue // one stand-in serves every server version
			}
			r, err := b.Build(ctx, spec, v)
			if err != nil {
				return Images{}, fmt.Errorf("build image %s:%s: %w", spec.Name, v, err)
			}
			img := Image{Ref: r.Tag, Tarball: r.Path}
			switch spec.Name {
			case "ai-assistant":
				imgs.Server[v] = img
			case "llm-standin":
				imgs.Standin = img
			}
		}
	}

	steps := debimage.NewSteps(debimage.Logf(logf), filepath.Join(repoRoot, ".cache", "debimage", "logs"))
	base, err := debimage.EnsureBase(ctx, steps, debimage.BaseOptions{})
	if err != nil {
		return Images{}, fmt.Errorf("debian base image: %w", err)
	}
	pg, err := debimage.EnsurePostgres(ctx, steps, base, out)
	if err != nil {
		return Images{}, fmt.Errorf("postgres image: %w", err)
	}
	rd, err := debimage.EnsureRedis(ctx, steps, base, out)
	if err != nil {
		return Images{}, fmt.Errorf("redis image: %w", err)
	}
	imgs.Postgres = Image{Ref: pg.Ref, Tarball: pg.Tarball}
	imgs.Redis = Image{Ref: rd.Ref, Tarball: rd.Tarball}
	return imgs, nil
}
