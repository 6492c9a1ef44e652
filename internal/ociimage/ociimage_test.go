package ociimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func fakeBinary(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func spec(bin string) Spec {
	return Spec{Tag: "ai-assistant:v1.0.0", Binary: bin, Entrypoint: "/usr/local/bin/ai-assistant", Port: 8000,
		Created: time.Unix(0, 0), Labels: map[string]string{"org.opencontainers.image.version": "v1.0.0"}}
}

func TestTarballLoadsWithRightConfig(t *testing.T) {
	t.Parallel()
	bin := fakeBinary(t, "#!fake binary")
	img, err := Build(spec(bin))
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	path := filepath.Join(t.TempDir(), "img.tar")
	if err := WriteTarball(path, "ai-assistant:v1.0.0", img); err != nil {
		t.Fatalf("write: %v", err)
	}
	tag, _ := name.NewTag("ai-assistant:v1.0.0")
	loaded, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatalf("tarball.ImageFromPath: %v", err)
	}
	cf, err := loaded.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform = %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/usr/local/bin/ai-assistant" {
		t.Errorf("entrypoint = %v", cf.Config.Entrypoint)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user = %q, want 65532:65532", cf.Config.User)
	}
	if _, ok := cf.Config.ExposedPorts["8000/tcp"]; !ok {
		t.Errorf("exposed ports = %v, want 8000/tcp", cf.Config.ExposedPorts)
	}
	if !cf.Created.Equal(time.Unix(0, 0)) {
		t.Errorf("created = %s, want the fixed epoch", cf.Created)
	}

	// The docker-save manifest names the tag kind/containerd will import it under.
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		t.Fatalf("load manifest: %v", err)
	}
	if len(m) != 1 || len(m[0].RepoTags) != 1 || m[0].RepoTags[0] != "ai-assistant:v1.0.0" {
		t.Errorf("RepoTags = %+v, want [ai-assistant:v1.0.0]", m)
	}

	// The layer: fixed owners and times, the binary executable, /tmp sticky and writable.
	layers, _ := loaded.Layers()
	if len(layers) != 1 {
		t.Fatalf("layers = %d, want 1", len(layers))
	}
	rc, _ := layers[0].Uncompressed()
	defer rc.Close()
	tr := tar.NewReader(rc)
	seen := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read layer: %v", err)
		}
		seen[h.Name] = h
		if h.Uid != 0 || !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: uid %d mtime %s, want 0 and the epoch", h.Name, h.Uid, h.ModTime)
		}
		if h.Name == "usr/local/bin/ai-assistant" {
			b, _ := io.ReadAll(tr)
			if string(b) != "#!fake binary" {
				t.Errorf("binary content = %q", b)
			}
		}
	}
	for n, mode := range map[string]int64{"usr/local/bin/ai-assistant": 0o755, "tmp/": 0o1777, "etc/passwd": 0o644} {
		if h, ok := seen[n]; !ok || h.Mode != mode {
			t.Errorf("%s: present=%v mode=%o, want %o", n, ok, h.Mode, mode)
		}
	}
}

func TestSameInputsSameDigest(t *testing.T) {
	t.Parallel()
	bin := fakeBinary(t, "same bytes")
	dir := t.TempDir()
	var digests []string
	var files [][]byte
	for i := range 2 {
		img, err := Build(spec(bin))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "img"+string(rune('a'+i))+".tar")
		if err := WriteTarball(p, "ai-assistant:v1.0.0", img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		digests = append(digests, d.String())
		b, _ := os.ReadFile(p)
		files = append(files, b)
	}
	if digests[0] != digests[1] {
		t.Errorf("digests differ: %v", digests)
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Errorf("tarballs differ byte for byte")
	}
	other, _ := Build(spec(fakeBinary(t, "other bytes")))
	if d, _ := other.Digest(); d.String() == digests[0] {
		t.Errorf("a different binary gave the same digest")
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	img, err := Build(spec(fakeBinary(t, string(make([]byte, 100000)))))
	if err != nil {
		t.Fatal(err)
	}
	info, err := Describe(img)
	if err != nil {
		t.Fatal(err)
	}
	if info.UncompressedSize < 100000 || info.CompressedSize >= info.UncompressedSize || info.Digest.Hex == "" {
		t.Errorf("info = %+v", info)
	}
	raw, _ := img.RawConfigFile()
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Errorf("config is not JSON: %v", err)
	}
}
