package cluster

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeArchive writes a tarball with a large first entry (a layer) and then manifest.json.
func writeArchive(t *testing.T, manifest string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "image.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	layer := strings.Repeat("x", 1<<20)
	for name, body := range map[string]string{"layer.tar": layer} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(manifest)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestArchivedImages: each way a docker-save tarball names its config gives the same digest,
// and each tag is named as containerd stores it.
func TestArchivedImages(t *testing.T) {
	const hex = "22ea8c8b54a2bc6274a182131d711a250e20d39e6c163c6ac2a1057389440f53"
	for name, config := range map[string]string{
		"go-containerregistry": "sha256:" + hex,
		"docker before 25":     hex + ".json",
		"docker 25 and later":  "blobs/sha256/" + hex,
	} {
		t.Run(name, func(t *testing.T) {
			p := writeArchive(t, `[{"Config":"`+config+`","RepoTags":["ai-assistant:v1.0.0","example.org/team/app:v2"]}]`)
			got, err := archivedImages(p)
			if err != nil {
				t.Fatal(err)
			}
			want := []archivedImage{
				{ref: "docker.io/library/ai-assistant:v1.0.0", config: "sha256:" + hex},
				{ref: "example.org/team/app:v2", config: "sha256:" + hex},
			}
			if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
				t.Errorf("archivedImages = %+v, want %+v", got, want)
			}
		})
	}
	for name, manifest := range map[string]string{
		"untagged":            `[{"Config":"sha256:` + hex + `","RepoTags":[]}]`,
		"config not a digest": `[{"Config":"config.json","RepoTags":["a:b"]}]`,
		"manifest not JSON":   `{`,
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := archivedImages(writeArchive(t, manifest)); err == nil {
				t.Errorf("archivedImages = %+v, want an error", got)
			}
		})
	}
}
