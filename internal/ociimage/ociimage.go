// Package ociimage assembles a single-binary container image with no base image and writes it
// as a `docker save`-style tarball (RepoTags manifest) that `docker load` and kind's
// LoadImageArchive accept. Every timestamp is fixed, so the same binary gives the same digest.
package ociimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// NonRootUID is the conventional "nonroot" user of distroless images; the chart's
// securityContext runs as it.
const NonRootUID = 65532

// Spec describes one image.
type Spec struct {
	// Tag is the image reference written into the tarball, e.g. "ai-assistant:v1.0.0".
	Tag string
	// Binary is the path of a static linux/amd64 executable on this machine.
	Binary string
	// Entrypoint is where the binary goes in the image, e.g. "/usr/local/bin/ai-assistant".
	Entrypoint string
	// Port is declared as exposed (documentation only; 0 = none).
	Port int
	// Created stamps the config, history and every file; fixed for reproducibility.
	Created time.Time
	// Labels are added to the image config (OCI annotations such as org.opencontainers.image.version).
	Labels map[string]string
}

// Build returns the image: one layer holding the binary plus a minimal /etc/passwd, /etc/group
// and a world-writable /tmp, run as 65532:65532, for linux/amd64.
func Build(s Spec) (v1.Image, error) {
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	layerTar, err := s.layerTar(bin)
	if err != nil {
		return nil, fmt.Errorf("assemble layer: %w", err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("create layer: %w", err)
	}
	created := v1.Time{Time: s.Created.UTC()}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: created, CreatedBy: "ociimage: " + filepath.Base(s.Binary), Comment: "static binary"},
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = created
	cf.Config.Entrypoint = []string{s.Entrypoint}
	cf.Config.User = fmt.Sprintf("%d:%d", NonRootUID, NonRootUID)
	cf.Config.WorkingDir = "/"
	cf.Config.Env = []string{"PATH=" + path.Dir(s.Entrypoint)}
	cf.Config.Labels = s.Labels
	if s.Port > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{strconv.Itoa(s.Port) + "/tcp": {}}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}

// layerTar writes the layer's files in a fixed order with fixed owners and times.
func (s Spec) layerTar(bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mod := s.Created.UTC()
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: mod, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mod, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	entry := path.Clean(s.Entrypoint)[1:] // "usr/local/bin/x"
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", NonRootUID, NonRootUID)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", NonRootUID)

	steps := []func() error{
		func() error { return dir("etc", 0o755) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return dir("tmp", 0o1777) },
	}
	// Parent directories of the binary, outermost first.
	var parents []string
	for d := path.Dir(entry); d != "." && d != "/"; d = path.Dir(d) {
		parents = append([]string{d}, parents...)
	}
	for _, d := range parents {
		steps = append(steps, func() error { return dir(d, 0o755) })
	}
	steps = append(steps, func() error { return file(entry, 0o755, bin) })
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteTarball writes img tagged tag to path atomically (a temporary file renamed into place,
// so a reader never sees half a tarball).
func WriteTarball(path, tag string, img v1.Image) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("parse tag %q: %w", tag, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("create temporary tarball: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tarball.MultiRefWrite(map[name.Reference]v1.Image{ref: img}, tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write tarball for %s: %w", tag, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close tarball: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("chmod tarball: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("move tarball into place: %w", err)
	}
	return nil
}

// Info is what a caller prints about an image.
type Info struct {
	Digest           v1.Hash // manifest digest
	ConfigDigest     v1.Hash // image ID as `docker images` shows it
	CompressedSize   int64   // sum of compressed layers
	UncompressedSize int64   // sum of uncompressed layers (what `docker images` reports, roughly)
}

// Describe computes an image's digests and sizes.
func Describe(img v1.Image) (Info, error) {
	var info Info
	var err error
	if info.Digest, err = img.Digest(); err != nil {
		return info, fmt.Errorf("image digest: %w", err)
	}
	if info.ConfigDigest, err = img.ConfigName(); err != nil {
		return info, fmt.Errorf("config digest: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return info, fmt.Errorf("image layers: %w", err)
	}
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return info, fmt.Errorf("layer size: %w", err)
		}
		info.CompressedSize += n
		rc, err := l.Uncompressed()
		if err != nil {
			return info, fmt.Errorf("open layer: %w", err)
		}
		u, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return info, fmt.Errorf("read layer: %w", err)
		}
		info.UncompressedSize += u
	}
	return info, nil
}
