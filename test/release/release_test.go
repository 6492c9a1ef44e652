// Package release tests the artifacts `make release` and `make package` produce, by running
// their scripts as a maintainer would.
package release

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	helmplugin "helm.sh/helm/v3/pkg/plugin"
)

var repoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}()

// script runs a hack/ script of the checkout at root with env over the process's.
func script(t *testing.T, root, name string, env ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "hack", name))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "hack/%s:\n%s", name, out)
	return string(out)
}

// copyCheckout copies the files git would commit (tracked, and untracked but not ignored) to
// a new directory, as a second clone at another path would hold them.
func copyCheckout(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "-C", repoRoot, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	require.NoError(t, err, "git ls-files")
	dst := t.TempDir()
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(repoRoot, name)
		info, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree, not yet committed
		}
		require.NoError(t, err)
		if !info.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Join(dst, filepath.Dir(name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dst, name), data, info.Mode().Perm()))
	}
	return dst
}

// sums reads a sha256sum file into name -> hex digest.
func sums(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		require.True(t, ok, "line %q of %s", sc.Text(), path)
		m[name] = sum
	}
	require.NoError(t, sc.Err())
	return m
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil))
}

// The same commit built from two checkouts at different paths gives the same bytes; the
// checksums file matches the files; the binary is static and says the version and commit it
// was stamped with; the Helm plugin directory and archive hold it under the name plugin.yaml
// gives for this platform. One platform keeps the test quick: `make release` builds all four
// through the same loop.
func TestReleaseIsReproducibleAndStamped(t *testing.T) {
	const version, commit = "9.8.7", "0123456789abcdef0123456789abcdef01234567"
	platform := runtime.GOOS + "/" + runtime.GOARCH
	env := []string{"VERSION=" + version, "COMMIT=" + commit, "PLATFORMS=" + platform}
	first, second := t.TempDir(), t.TempDir()
	script(t, repoRoot, "release.sh", append(env, "OUT="+first)...)
	script(t, copyCheckout(t), "release.sh", append(env, "OUT="+second)...)

	sumsFile := "bluegreen-" + version + "-SHA256SUMS"
	got := sums(t, filepath.Join(first, sumsFile))
	bin := "bluegreen-" + version + "-" + runtime.GOOS + "-" + runtime.GOARCH
	plugin := "helm-bluegreen-" + version
	require.ElementsMatch(t, []string{bin, plugin + ".tgz"}, keys(got))
	assert.Equal(t, got, sums(t, filepath.Join(second, sumsFile)), "two checkouts of one commit give different bytes")
	for name, sum := range got {
		assert.Equal(t, sum, fileSum(t, filepath.Join(first, name)), "SHA256SUMS does not match %s", name)
	}

	out, err := exec.Command(filepath.Join(first, bin), "version", "-o", "json").Output()
	require.NoError(t, err)
	var v struct{ Version, Commit, Platform string }
	require.NoError(t, json.Unmarshal(out, &v))
	assert.Equal(t, version, v.Version)
	assert.Equal(t, commit, v.Commit)
	assert.Equal(t, platform, v.Platform)
	if runtime.GOOS == "linux" {
		assertStatic(t, filepath.Join(first, bin))
	}

	// The plugin: its version is the release's, and its command for this platform is the binary.
	// Helm's own loader reads and validates it, and picks the command for this platform.
	p, err := helmplugin.LoadDir(filepath.Join(first, plugin))
	require.NoError(t, err)
	assert.Equal(t, "bluegreen", p.Metadata.Name)
	assert.Equal(t, version, p.Metadata.Version)
	t.Setenv("HELM_PLUGIN_DIR", p.Dir)
	command, args, err := p.PrepareCommand([]string{"status", "x"})
	require.NoError(t, err)
	assert.Equal(t, []string{"status", "x"}, args)
	assert.Equal(t, got[bin], fileSum(t, command), "the plugin's command is not the released binary")

	members := tarMembers(t, filepath.Join(first, plugin+".tgz"))
	assert.Contains(t, members, plugin+"/plugin.yaml")
	assert.Contains(t, members, plugin+"/bin/bluegreen-"+runtime.GOOS+"-"+runtime.GOARCH)
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// assertStatic fails unless the ELF file needs no dynamic loader and no shared library, so it
// runs on any Linux of its architecture.
func assertStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "%s asks for a dynamic loader", path)
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	assert.Empty(t, libs, "%s links shared libraries", path)
}

// tarMembers lists the names in a gzipped tar.
func tarMembers(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		require.NoError(t, err)
		names = append(names, strings.TrimSuffix(h.Name, "/"))
	}
}
