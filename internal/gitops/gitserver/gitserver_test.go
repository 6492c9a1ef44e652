package gitserver

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// A push creates the repository; a clone and a fetch read back what was pushed, through the
// real git http-backend.
func TestPushCreatesTheRepositoryAndCloneReadsIt(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(DefaultBackend); err != nil {
		t.Fatalf("git http-backend missing (Debian's git package): %v", err)
	}
	root := t.TempDir()
	srv := httptest.NewServer(&Handler{Root: root})
	t.Cleanup(srv.Close)
	url := srv.URL + "/app.git"

	work := t.TempDir()
	git(t, work, "init", "--quiet", "--initial-branch=main")
	require.NoError(t, os.WriteFile(filepath.Join(work, "values.yaml"), []byte("activeColor: blue\n"), 0o644))
	git(t, work, "add", "values.yaml")
	git(t, work, "commit", "--quiet", "-m", "first")
	git(t, work, "push", "--quiet", url, "main")
	first := git(t, work, "rev-parse", "HEAD")

	clone := filepath.Join(t.TempDir(), "clone")
	git(t, t.TempDir(), "clone", "--quiet", url, clone)
	assert.Equal(t, first, git(t, clone, "rev-parse", "HEAD"), "the clone is at the pushed commit")
	b, err := os.ReadFile(filepath.Join(clone, "values.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "activeColor: blue\n", string(b))

	// A second push from the clone, read back by a fetch in the first checkout.
	require.NoError(t, os.WriteFile(filepath.Join(clone, "values.yaml"), []byte("activeColor: green\n"), 0o644))
	git(t, clone, "commit", "--quiet", "-am", "switch")
	git(t, clone, "push", "--quiet", "origin", "main")
	git(t, work, "fetch", "--quiet", url, "main")
	assert.Equal(t, git(t, clone, "rev-parse", "HEAD"), git(t, work, "rev-parse", "FETCH_HEAD"))
	assert.Equal(t, first, git(t, work, "rev-parse", "FETCH_HEAD~1"))
}

func TestRefusesPathsOutsideARepository(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(&Handler{Root: t.TempDir()})
	t.Cleanup(srv.Close)
	for _, path := range []string{"/", "/etc/passwd", "/app.git/../../etc/passwd", "/.git/info/refs"} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, path)
	}
	resp, err := http.Get(srv.URL + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
