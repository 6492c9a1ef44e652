// Package imagebuild turns Go commands into image tarballs: the repository's own, and
// other modules' at a pinned version (metrics-server). It compiles a static binary (CGO off,
// -trimpath, no build ID, version stamped by ldflag), hands it to ociimage, and skips all of
// that when a hash of the inputs matches the last build's.
package imagebuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/buildinfo"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/machinecache"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/ociimage"
)

// schema changes whenever the image layout changes in a way the file hash would not see.
const schema = "imagebuild/1"

// Image is one command packaged as an image.
type Image struct {
	Name    string // repository and binary name, e.g. "ai-assistant"
	Package string // Go package, e.g. "./cmd/ai-assistant"
	Port    int
}

// Images are the images this repository builds.
var Images = []Image{
	{Name: "ai-assistant", Package: "./cmd/ai-assistant", Port: 8000},
	{Name: "llm-standin", Package: "./cmd/llm-standin", Port: 8080},
}

// builderPackages are hashed with every image: a change to how images are built rebuilds them.
var builderPackages = []string{
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/imagebuild",
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/ociimage",
}

// Builder builds images into OutDir.
type Builder struct {
	RepoRoot string
	OutDir   string
	// Created is stamped on every image (SOURCE_DATE_EPOCH, or the Unix epoch).
	Created time.Time
	// Log receives progress lines.
	Log func(format string, args ...any)
	// CacheDir, when set, keeps every tarball built under its inputs hash outside the
	// checkout, so that a fresh clone (CI's) finds it instead of linking it again.
	CacheDir string
}

// NewBuilder is the Builder the repository's commands use: tarballs in
// <repoRoot>/.cache/images, stamped with the Unix epoch, kept in the machine's cache
// (MachineCacheDir) too.
func NewBuilder(repoRoot string, logf func(format string, args ...any)) *Builder {
	return &Builder{RepoRoot: repoRoot, OutDir: filepath.Join(repoRoot, ".cache", "images"),
		Created: time.Unix(0, 0).UTC(), Log: logf, CacheDir: MachineCacheDir(repoRoot)}
}

// MachineCacheDir is ${XDG_CACHE_HOME:-$HOME/.cache}/ai-assistant-chart/images, beside the
// tools and the node image's binaries, or <repoRoot>/.cache/image-cache with no home.
func MachineCacheDir(repoRoot string) string {
	return machinecache.Dir(repoRoot, "images", "image-cache")
}

// Result describes one built (or reused) tarball.
type Result struct {
	Tag         string
	Path        string
	Info        ociimage.Info
	TarballSize int64
	UpToDate    bool
	Elapsed     time.Duration
}

// TarballPath is where an image's tarball goes: <out>/<name>-<version>.tar.
func (b *Builder) TarballPath(img Image, version string) string {
	return filepath.Join(b.OutDir, img.Name+"-"+version+".tar")
}

// Build produces <out>/<name>-<version>.tar unless its inputs are unchanged since the last run.
func (b *Builder) Build(ctx context.Context, img Image, version string) (Result, error) {
	hash, err := b.inputsHash(ctx, img, version)
	if err != nil {
		return Result{}, fmt.Errorf("hash inputs of %s:%s: %w", img.Name, version, err)
	}
	return b.build(ctx, img.Name, version, img.Port, hash, func(bin string) error {
		b.logf("compiling %s %s for linux/amd64", img.Package, version)
		return b.goBuild(ctx, img.Package, version, bin)
	})
}

// build packages the binary compile writes as <name>:<version>, or reuses the tarball when
// the stamp beside it records the same inputs hash.
func (b *Builder) build(ctx context.Context, name, version string, port int, hash string, compile func(bin string) error) (Result, error) {
	start := time.Now()
	res := Result{Tag: name + ":" + version, Path: filepath.Join(b.OutDir, name+"-"+version+".tar")}
	if err := os.MkdirAll(b.OutDir, 0o755); err != nil {
		return res, fmt.Errorf("create %s: %w", b.OutDir, err)
	}
	stamp := res.Path + ".inputs"
	if prev, err := os.ReadFile(stamp); err == nil && string(prev) == hash {
		if v1img, err := tarball.ImageFromPath(res.Path, nil); err == nil {
			if res.Info, err = ociimage.Describe(v1img); err == nil {
				res.UpToDate = true
				return b.finish(res, start)
			}
		}
		// Stamp without a readable tarball: fall through and rebuild.
	}
	if b.fromCache(hash, res.Path) {
		if v1img, err := tarball.ImageFromPath(res.Path, nil); err == nil {
			if res.Info, err = ociimage.Describe(v1img); err == nil {
				if err := os.WriteFile(stamp, []byte(hash), 0o644); err != nil {
					return res, fmt.Errorf("write input stamp: %w", err)
				}
				b.logf("%s: taken from the machine's image cache (%s)", res.Tag, b.CacheDir)
				res.UpToDate = true
				return b.finish(res, start)
			}
		}
	}

	tmp, err := os.MkdirTemp("", "imagebuild-")
	if err != nil {
		return res, fmt.Errorf("create build dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, name)
	if err := compile(bin); err != nil {
		return res, err
	}
	v1img, err := ociimage.Build(ociimage.Spec{
		Tag: res.Tag, Binary: bin, Entrypoint: "/usr/local/bin/" + name, Port: port, Created: b.Created,
		Labels: map[string]string{
			"org.opencontainers.image.title":   name,
			"org.opencontainers.image.version": version,
		},
	})
	if err != nil {
		return res, fmt.Errorf("assemble image %s: %w", res.Tag, err)
	}
	if err := ociimage.WriteTarball(res.Path, res.Tag, v1img); err != nil {
		return res, err
	}
	if res.Info, err = ociimage.Describe(v1img); err != nil {
		return res, err
	}
	if err := os.WriteFile(stamp, []byte(hash), 0o644); err != nil {
		return res, fmt.Errorf("write input stamp: %w", err)
	}
	b.toCache(hash, res.Path)
	return b.finish(res, start)
}

// fromCache puts the machine cache's tarball of hash at path, if there is one.
func (b *Builder) fromCache(hash, path string) bool {
	if b.CacheDir == "" {
		return false
	}
	return linkOrCopy(filepath.Join(b.CacheDir, hash+".tar"), path) == nil
}

// toCache keeps the tarball at path in the machine cache under hash. The cache only saves
// time, so failing to fill it is said and not an error.
func (b *Builder) toCache(hash, path string) {
	if b.CacheDir == "" {
		return
	}
	if err := os.MkdirAll(b.CacheDir, 0o755); err == nil {
		err = linkOrCopy(path, filepath.Join(b.CacheDir, hash+".tar"))
		if err == nil {
			return
		}
		b.logf("could not keep %s in %s: %v", filepath.Base(path), b.CacheDir, err)
	}
}

// linkOrCopy makes dst hold src's content: a hard link when both are on one filesystem, else
// a copy, written beside dst and renamed so a reader never sees half a tarball.
func linkOrCopy(src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return err
	}
	tmp := dst + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(tmp)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
	}
	return os.Rename(tmp, dst)
}

func (b *Builder) finish(res Result, start time.Time) (Result, error) {
	fi, err := os.Stat(res.Path)
	if err != nil {
		return res, fmt.Errorf("stat tarball: %w", err)
	}
	res.TarballSize = fi.Size()
	res.Elapsed = time.Since(start)
	return res, nil
}

func (b *Builder) logf(format string, args ...any) {
	if b.Log != nil {
		b.Log(format, args...)
	}
}

// crossEnv builds static linux/amd64 binaries whatever the host.
func crossEnv() []string {
	return append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
}

func (b *Builder) goBuild(ctx context.Context, pkg, version, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= "+buildinfo.VersionLDFlag(version), "-o", out, pkg)
	cmd.Dir = b.RepoRoot
	cmd.Env = crossEnv()
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, o)
	}
	return nil
}

// inputsHash covers everything that determines the image: the toolchain, the module graph
// (go.mod/go.sum pin every dependency), the main module's source files the command and the
// builder import, the version and the layout schema.
func (b *Builder) inputsHash(ctx context.Context, img Image, version string) (string, error) {
	files, err := b.mainModuleFiles(ctx, append([]string{img.Package}, builderPackages...)...)
	if err != nil {
		return "", err
	}
	gover, err := goVersion(ctx)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n%s\n", schema, gover, img.Name, img.Package, version)
	fmt.Fprintf(h, "created %d\n", b.Created.Unix())
	if err := b.hashFiles(h, append(files, filepath.Join(b.RepoRoot, "go.mod"), filepath.Join(b.RepoRoot, "go.sum"))); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// mainModuleFiles lists the main module's Go and embedded files that pkgs depend on.
func (b *Builder) mainModuleFiles(ctx context.Context, pkgs ...string) ([]string, error) {
	args := append([]string{"list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}{{end}}`},
		pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = b.RepoRoot
	cmd.Env = crossEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w: %s", strings.Join(pkgs, " "), err, stderr.String())
	}
	var files []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		for _, f := range fields[1:] {
			files = append(files, filepath.Join(fields[0], f))
		}
	}
	return files, nil
}

// hashFiles writes each file's path (relative to the repository) and content to h, in a
// fixed order.
func (b *Builder) hashFiles(h io.Writer, files []string) error {
	sort.Strings(files)
	for _, f := range compactStrings(files) {
		rel, _ := filepath.Rel(b.RepoRoot, f)
		fh, err := os.Open(f)
		if err != nil {
			return fmt.Errorf("read input: %w", err)
		}
		fmt.Fprintf(h, "%s\n", rel)
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return fmt.Errorf("hash %s: %w", rel, err)
		}
	}
	return nil
}

func goVersion(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
