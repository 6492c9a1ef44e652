package imagebuild

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ExtractBinary copies /usr/local/bin/<name> out of an image tarball this package built into
// dst: the static binary, for an image on another base (a Debian image that needs git beside
// it) to copy in.
func ExtractBinary(tarballPath, name, dst string) error {
	img, err := tarball.ImageFromPath(tarballPath, nil)
	if err != nil {
		return fmt.Errorf("read image %s: %w", tarballPath, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("read layers of %s: %w", tarballPath, err)
	}
	want := filepath.Join("usr/local/bin", name)
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return fmt.Errorf("read a layer of %s: %w", tarballPath, err)
		}
		found, err := copyFromTar(tar.NewReader(rc), want, dst)
		_ = rc.Close() // read to the end or failed; either is reported below
		if err != nil {
			return fmt.Errorf("extract %s from %s: %w", want, tarballPath, err)
		}
		if found {
			return nil
		}
	}
	return fmt.Errorf("%s is not in %s", want, tarballPath)
}

func copyFromTar(tr *tar.Reader, want, dst string) (bool, error) {
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if filepath.Clean(h.Name) != want {
			continue
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			return false, err
		}
		if _, err := io.Copy(f, tr); err != nil {
			_ = f.Close() // the copy error is the one to report
			return false, err
		}
		return true, f.Close()
	}
}
