package imagebuild

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TestBuildServerImage compiles the real server, checks the image, runs the binary taken back
// out of the tarball to see the stamped version, and checks both kinds of rebuild.
func TestBuildServerImage(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Fatalf("this test runs the linux/amd64 binary it builds; run it on linux/amd64")
	}
	b := &Builder{RepoRoot: repoRoot(t), OutDir: t.TempDir(), Created: time.Unix(0, 0), Log: t.Logf}
	img := Images[0]
	ctx := context.Background()

	first, err := b.Build(ctx, img, "v0.0.1-test")
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if first.UpToDate {
		t.Fatal("first build reported up to date")
	}
	loaded, err := tarball.ImageFromPath(first.Path, nil)
	if err != nil {
		t.Fatalf("load tarball: %v", err)
	}
	cf, _ := loaded.ConfigFile()
	if cf.Config.Entrypoint[0] != "/usr/local/bin/ai-assistant" || cf.Config.User != "65532:65532" || cf.Architecture != "amd64" {
		t.Errorf("config: entrypoint %v user %q arch %s", cf.Config.Entrypoint, cf.Config.User, cf.Architecture)
	}
	if first.Info.UncompressedSize > 20e6 {
		t.Errorf("server image is %d bytes uncompressed; the target is about 15 MB", first.Info.UncompressedSize)
	}

	// The binary inside is static and carries the version.
	bin := filepath.Join(t.TempDir(), "ai-assistant")
	extract(t, first.Path, "usr/local/bin/ai-assistant", bin)
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "v0.0.1-test" {
		t.Errorf("binary from the image says %q (%v), want v0.0.1-test", out, err)
	}

	second, err := b.Build(ctx, img, "v0.0.1-test")
	if err != nil || !second.UpToDate || second.Info.Digest != first.Info.Digest {
		t.Errorf("unchanged rebuild: up to date %v digest %s (first %s), err %v", second.UpToDate, second.Info.Digest, first.Info.Digest, err)
	}
	// Forget the stamp: a real rebuild must give the same digest (reproducible build).
	if err := os.Remove(first.Path + ".inputs"); err != nil {
		t.Fatal(err)
	}
	third, err := b.Build(ctx, img, "v0.0.1-test")
	if err != nil || third.UpToDate || third.Info.Digest != first.Info.Digest {
		t.Errorf("forced rebuild: up to date %v digest %s (first %s), err %v", third.UpToDate, third.Info.Digest, first.Info.Digest, err)
	}
}

// extract copies file out of the image through ExtractBinary, which images on other bases use.
func extract(t *testing.T, tarballPath, file, dst string) {
	t.Helper()
	if err := ExtractBinary(tarballPath, filepath.Base(file), dst); err != nil {
		t.Fatal(err)
	}
}
