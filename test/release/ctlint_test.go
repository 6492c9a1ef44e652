package release

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hack/ct-lint.sh in a repository of its own whose origin/main holds this chart: a template
// changed without a version bump fails ct's version check; the bump passes; an unchanged chart,
// or no origin/main at all, needs none.
func TestChartChangeNeedsVersionBump(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, f := range []string{"ct.yaml", "hack/lib.sh", "hack/ct-lint.sh"} {
		copyTree(t, filepath.Join(repoRoot, f), filepath.Join(dir, f))
	}
	copyTree(t, filepath.Join(repoRoot, "charts", "ai-assistant"), filepath.Join(dir, "charts", "ai-assistant"))
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	lint := func() (string, error) {
		cmd := exec.Command(filepath.Join(dir, "hack", "ct-lint.sh"))
		cmd.Env = append(os.Environ(), "PATH="+filepath.Join(repoRoot, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	git("init", "-q", "-b", "main")
	git("add", ".")
	git("commit", "-q", "-m", "chart")

	out, err := lint()
	require.NoError(t, err, out)
	assert.Contains(t, out, "no origin/main to compare the chart version with")

	git("update-ref", "refs/remotes/origin/main", "HEAD")
	out, err = lint()
	require.NoError(t, err, out)
	assert.Contains(t, out, "chart unchanged since origin/main")

	notes := filepath.Join(dir, "charts", "ai-assistant", "templates", "NOTES.txt")
	appendFile(t, notes, "\nA changed note.\n")
	out, err = lint()
	require.Error(t, err, "a changed chart without a version bump passed:\n%s", out)
	assert.Contains(t, out, "Needs a version bump")

	chartYAML := filepath.Join(dir, "charts", "ai-assistant", "Chart.yaml")
	raw, err := os.ReadFile(chartYAML)
	require.NoError(t, err)
	version := regexp.MustCompile(`(?m)^version: (\d+)\.(\d+)\.(\d+)$`)
	m := version.FindSubmatch(raw)
	require.NotNil(t, m)
	bumped := version.ReplaceAll(raw, []byte("version: ${1}.${2}.9999"))
	require.NoError(t, os.WriteFile(chartYAML, bumped, 0o644))
	out, err = lint()
	require.NoError(t, err, "a bumped version failed:\n%s", out)
	assert.Contains(t, out, "its version must be higher than there")
	assert.True(t, strings.Contains(out, "Chart version ok"), "ct checked the version:\n%s", out)
}

// copyTree copies a file or a directory tree.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	}))
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(text)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}
