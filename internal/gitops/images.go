package gitops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/debimage"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/imagebuild"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stackimages"
)

// GitHTTP is the Git server's wrapper around git http-backend (cmd/git-http), built as a static
// binary and copied into a Debian image beside git.
var GitHTTP = imagebuild.Image{Name: "git-http", Package: "./cmd/git-http", Port: 8080}

// gitHTTPVersion stamps the wrapper; it is built once, not per IMAGE_VERSIONS.
const gitHTTPVersion = "v1.0.0"

// Images are the images Install runs, each with the tarball kind loads.
type Images struct {
	ArgoCD, GitServer, Redis debimage.Image
}

// Tarballs lists the images' tarballs, for kind's image load.
func (i Images) Tarballs() []string {
	return []string{i.ArgoCD.Tarball, i.GitServer.Tarball, i.Redis.Tarball}
}

// EnsureImages builds whatever is missing of Install's images, each cached by a hash of its
// inputs: the argocd and helm binaries (imagebuild: Argo CD's cold build is the heaviest in
// this repository, minutes on 2 cores, with a line every 30 s), the wrapper, and the Debian
// images with git (debimage). Each line says what was built and how long it took, or that
// it was up to date; the tarballs go to the machine's image cache (imagebuild.MachineCacheDir).
func EnsureImages(ctx context.Context, repoRoot string, logf func(string, ...any)) (Images, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	b := imagebuild.NewBuilder(repoRoot, logf)
	// The Debian images' tarballs stay in the machine's image cache, as the binaries' do: a
	// fresh clone (CI's) then saves none of them again (1.1 GB with docker save).
	out := imagebuild.MachineCacheDir(repoRoot)
	built := func(r imagebuild.Result) debimage.Binary {
		logf("%s", stackimages.Line(r))
		name, _, _ := strings.Cut(r.Tag, ":")
		return debimage.Binary{Digest: r.Info.Digest.String(), Write: func(path string) error {
			return imagebuild.ExtractBinary(r.Path, name, path)
		}}
	}
	helm, err := b.BuildModule(ctx, imagebuild.Helm4)
	if err != nil {
		return Images{}, fmt.Errorf("build helm %s: %w", imagebuild.Helm4.Version, err)
	}
	argocd, err := b.BuildModule(ctx, imagebuild.ArgoCD)
	if err != nil {
		return Images{}, fmt.Errorf("build argocd %s: %w", imagebuild.ArgoCD.Version, err)
	}
	gitHTTP, err := b.Build(ctx, GitHTTP, gitHTTPVersion)
	if err != nil {
		return Images{}, fmt.Errorf("build %s: %w", GitHTTP.Name, err)
	}

	// The repo-server runs upstream's git-verify-wrapper.sh on every commit it checks out; it
	// is read from the module cache, never copied into this repository.
	dir, err := ArgoCDDir(repoRoot)
	if err != nil {
		return Images{}, err
	}
	wrapper, err := os.ReadFile(filepath.Join(dir, "hack", "git-verify-wrapper.sh"))
	if err != nil {
		return Images{}, fmt.Errorf("read Argo CD's git-verify-wrapper.sh: %w", err)
	}
	sum := sha256.Sum256(wrapper)
	verifyWrapper := debimage.Binary{Digest: "sha256:" + hex.EncodeToString(sum[:]), Write: func(path string) error {
		return os.WriteFile(path, wrapper, 0o755)
	}}

	steps := debimage.NewSteps(debimage.Logf(logf), filepath.Join(repoRoot, ".cache", "debimage", "logs"))
	base, err := debimage.EnsureBase(ctx, steps, debimage.BaseOptions{})
	if err != nil {
		return Images{}, fmt.Errorf("debian base image: %w", err)
	}
	var imgs Images
	if imgs.ArgoCD, err = debimage.EnsureArgoCD(ctx, steps, base, out, built(argocd), built(helm), verifyWrapper); err != nil {
		return Images{}, fmt.Errorf("argo cd image: %w", err)
	}
	if imgs.GitServer, err = debimage.EnsureGitServer(ctx, steps, base, out, built(gitHTTP)); err != nil {
		return Images{}, fmt.Errorf("git server image: %w", err)
	}
	if imgs.Redis, err = debimage.EnsureRedis(ctx, steps, base, out); err != nil {
		return Images{}, fmt.Errorf("redis image: %w", err)
	}
	for _, img := range []debimage.Image{imgs.ArgoCD, imgs.GitServer, imgs.Redis} {
		logf("%s: %.1f MB uncompressed", img.Ref, float64(debimage.ImageSize(ctx, img.Ref))/1e6)
	}
	return imgs, nil
}
