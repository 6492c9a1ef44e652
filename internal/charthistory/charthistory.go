// Package charthistory finds the chart as users had it before this checkout: the version an
// upgrade starts from, taken from git history, for the tests that upgrade from it.
package charthistory

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Previous extracts into dir the chart at chartPath (relative to the repository at repoRoot)
// as it was at the newest commit whose Chart.yaml has a version other than the checkout's,
// and returns where it is and its version. A shallow clone lacks the history and fails.
func Previous(repoRoot, chartPath, dir string) (chartDir, version string, err error) {
	b, err := os.ReadFile(filepath.Join(repoRoot, chartPath, "Chart.yaml"))
	if err != nil {
		return "", "", err
	}
	current, err := chartVersion(b)
	if err != nil {
		return "", "", err
	}
	// Every commit that touched the chart, newest first: the last one of a version is what it
	// shipped as, even when it changed no Chart.yaml.
	log, err := git(repoRoot, "log", "--format=%H", "--", chartPath)
	if err != nil {
		return "", "", err
	}
	for _, commit := range strings.Fields(string(log)) {
		meta, err := git(repoRoot, "show", commit+":"+chartPath+"/Chart.yaml")
		if err != nil {
			return "", "", err
		}
		if version, err = chartVersion(meta); err != nil || version == current {
			continue
		}
		archive, err := git(repoRoot, "archive", "--format=tar", commit, chartPath)
		if err != nil {
			return "", "", err
		}
		if err := untar(archive, dir); err != nil {
			return "", "", err
		}
		return filepath.Join(dir, filepath.FromSlash(chartPath)), version, nil
	}
	return "", "", fmt.Errorf("no commit has a %s version other than %s", chartPath, current)
}

func chartVersion(b []byte) (string, error) {
	var c struct{ Version string }
	if err := yaml.Unmarshal(b, &c); err != nil {
		return "", fmt.Errorf("read Chart.yaml: %w", err)
	}
	return c.Version, nil
}

func git(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s (a shallow clone lacks the history): %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// untar writes a plain tar's regular files under dir.
func untar(data []byte, dir string) error {
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		path := filepath.Join(dir, filepath.FromSlash(h.Name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, body, 0o644); err != nil {
			return err
		}
	}
}
