package charthistory

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// In a repository of its own: the previous version is the newest commit with another version,
// not merely the parent commit, and its files are those of that commit.
func TestPreviousSkipsCommitsOfTheSameVersion(t *testing.T) {
	repo := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	commit := func(version, notes string) {
		t.Helper()
		dir := filepath.Join(repo, "charts", "c")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, body := range map[string]string{"Chart.yaml": "name: c\nversion: " + version + "\n", "NOTES.txt": notes} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		run("add", ".")
		run("commit", "-q", "-m", version)
	}
	run("init", "-q")
	commit("0.1.0", "first")
	commit("0.1.0", "first, amended")
	commit("0.2.0", "second")
	commit("0.2.0", "second, amended") // the checkout

	dir, version, err := Previous(repo, "charts/c", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	notes, err := os.ReadFile(filepath.Join(dir, "NOTES.txt"))
	if err != nil || version != "0.1.0" || strings.TrimSpace(string(notes)) != "first, amended" {
		t.Errorf("previous = %s with NOTES %q (%v), want 0.1.0 as last committed", version, notes, err)
	}
}
