package gitrepo

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// remote makes a bare repository with one commit of values.yaml on main, and returns its URL.
func remote(t *testing.T) string {
	t.Helper()
	bare := filepath.Join(t.TempDir(), "repo.git")
	out, err := exec.Command("git", "init", "--quiet", "--bare", "--initial-branch=main", bare).CombinedOutput()
	require.NoError(t, err, "%s", out)
	seed, err := Init(context.Background(), t.TempDir(), "main", bare)
	require.NoError(t, err)
	write(t, seed, "values.yaml", "activeColor: blue\nblue:\n  replicas: 2\n")
	_, err = seed.Commit(context.Background(), "seed", "values.yaml")
	require.NoError(t, err)
	_, err = seed.Push(context.Background())
	require.NoError(t, err)
	return bare
}

func write(t *testing.T, c *Checkout, rel, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(c.Path(rel), []byte(content), 0o644))
}

func TestCommitAndPushNameTheStep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := remote(t)
	c, err := Clone(ctx, url, "main", filepath.Join(t.TempDir(), "co"))
	require.NoError(t, err)
	before, err := c.Head(ctx)
	require.NoError(t, err)

	write(t, c, "values.yaml", "activeColor: green\nblue:\n  replicas: 2\n")
	committed, err := c.Commit(ctx, "bluegreen: switch blue -> green", c.Path("values.yaml"))
	require.NoError(t, err)
	pushed, err := c.Push(ctx)
	require.NoError(t, err)
	assert.Equal(t, committed, pushed)
	assert.NotEqual(t, before, pushed)

	other, err := Clone(ctx, url, "main", filepath.Join(t.TempDir(), "other"))
	require.NoError(t, err)
	head, err := other.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, pushed, head, "the remote has the commit")
	subject, err := other.Subject(ctx, head)
	require.NoError(t, err)
	assert.Equal(t, "bluegreen: switch blue -> green", subject)

	again, err := c.Commit(ctx, "nothing changed", "values.yaml")
	require.NoError(t, err)
	assert.Equal(t, pushed, again, "nothing to commit: no empty commit")
}

// A push after someone else pushed rebases over their commit when the lines differ, and
// reports ErrConflict, leaving the checkout as it was, when they changed the same line.
func TestPushRebasesOverOthersAndReportsConflicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := remote(t)
	mine, err := Clone(ctx, url, "main", filepath.Join(t.TempDir(), "mine"))
	require.NoError(t, err)
	theirs, err := Clone(ctx, url, "main", filepath.Join(t.TempDir(), "theirs"))
	require.NoError(t, err)

	write(t, theirs, "values.yaml", "activeColor: blue\nblue:\n  replicas: 3\n")
	_, err = theirs.Commit(ctx, "theirs: 3 replicas", "values.yaml")
	require.NoError(t, err)
	_, err = theirs.Push(ctx)
	require.NoError(t, err)

	write(t, mine, "values.yaml", "activeColor: green\nblue:\n  replicas: 2\n")
	_, err = mine.Commit(ctx, "mine: switch", "values.yaml")
	require.NoError(t, err)
	pushed, err := mine.Push(ctx)
	require.NoError(t, err)
	b, err := os.ReadFile(mine.Path("values.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "activeColor: green\nblue:\n  replicas: 3\n", string(b), "rebased over their commit")
	log, err := mine.Log(ctx, pushed+"~2", pushed)
	require.NoError(t, err)
	require.Len(t, log, 2)
	assert.Contains(t, log[0], "mine: switch")
	assert.Contains(t, log[1], "theirs: 3 replicas")

	_, err = theirs.Pull(ctx)
	require.NoError(t, err)
	write(t, theirs, "values.yaml", "activeColor: blue\nblue:\n  replicas: 3\n")
	_, err = theirs.Commit(ctx, "theirs: back to blue", "values.yaml")
	require.NoError(t, err)
	_, err = theirs.Push(ctx)
	require.NoError(t, err)
	write(t, mine, "values.yaml", "activeColor: red\nblue:\n  replicas: 3\n")
	_, err = mine.Commit(ctx, "mine: red", "values.yaml")
	require.NoError(t, err)
	_, err = mine.Push(ctx)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrConflict), "got %v", err)
	b, err = os.ReadFile(mine.Path("values.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "activeColor: red\nblue:\n  replicas: 3\n", string(b), "the aborted rebase leaves the checkout as it was")
}
