package debimage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// Inputs is what an image is made from; its Hash names the image's tag.
type Inputs struct {
	// Values are named scalar inputs: versions, package lists, parent image tags.
	Values map[string]string
	// Files are paths whose contents are inputs (the builder's own sources), relative to Root
	// so that two checkouts of the same commit give the same hash.
	Files []string
	// Root is the directory Files are relative to.
	Root string
}

// Hash returns the first n hex digits of a SHA-256 over the sorted values and the files'
// names and contents, so any change to an input gives a new tag.
func (in Inputs) Hash(n int) (string, error) {
	h := sha256.New()
	keys := make([]string, 0, len(in.Values))
	for k := range in.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "value %q=%q\n", k, in.Values[k])
	}
	files := append([]string(nil), in.Files...)
	sort.Strings(files)
	for _, p := range files {
		f, err := os.Open(filepath.Join(in.Root, p))
		if err != nil {
			return "", fmt.Errorf("hash input file: %w", err)
		}
		fmt.Fprintf(h, "file %q\n", p)
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("hash input file %s: %w", p, err)
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if n <= 0 || n > len(sum) {
		n = len(sum)
	}
	return sum[:n], nil
}
