// Package gitrepo is a Git checkout the GitOps cutover edits: clone a branch, commit a file
// with a message, push it, and say which commit the branch is at. It runs the git command
// line (git is on every machine that runs a GitOps pipeline, and its credential helpers and
// config apply as the user set them up) rather than a Go reimplementation of the protocol.
package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrConflict: the branch moved on the remote in a way a rebase of our commit cannot follow.
var ErrConflict = errors.New("the remote branch changed the same lines")

// Checkout is a working tree of one branch of a remote repository.
type Checkout struct {
	Dir    string // the working tree
	URL    string // the remote
	Branch string
	// Author is written on every commit ("Name <email>").
	Author string
}

// DefaultAuthor signs the cutover's commits unless the caller names someone.
const DefaultAuthor = "bluegreen <bluegreen@localhost>"

// Clone clones branch of url into dir (which must not exist or be empty).
func Clone(ctx context.Context, url, branch, dir string) (*Checkout, error) {
	c := &Checkout{Dir: dir, URL: url, Branch: branch, Author: DefaultAuthor}
	if _, err := c.run(ctx, "", "clone", "--quiet", "--branch", branch, "--single-branch", url, dir); err != nil {
		return nil, err
	}
	return c, nil
}

// Init makes dir a new repository on branch whose remote "origin" is url, for a first push.
func Init(ctx context.Context, dir, branch, url string) (*Checkout, error) {
	c := &Checkout{Dir: dir, URL: url, Branch: branch, Author: DefaultAuthor}
	for _, args := range [][]string{{"init", "--quiet", "--initial-branch=" + branch}, {"remote", "add", "origin", url}} {
		if _, err := c.git(ctx, args...); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Open uses an existing checkout of branch, whose remote "origin" is pushed to.
func Open(ctx context.Context, dir, branch string) (*Checkout, error) {
	c := &Checkout{Dir: dir, Branch: branch, Author: DefaultAuthor}
	url, err := c.git(ctx, "remote", "get-url", "origin")
	if err != nil {
		return nil, fmt.Errorf("%s is not a checkout with an origin: %w", dir, err)
	}
	c.URL = url
	return c, nil
}

// Head returns the commit the working tree is at.
func (c *Checkout) Head(ctx context.Context) (string, error) {
	return c.git(ctx, "rev-parse", "HEAD")
}

// Path returns rel (slash-separated, relative to the working tree) as a file path.
func (c *Checkout) Path(rel string) string { return filepath.Join(c.Dir, filepath.FromSlash(rel)) }

// Commit commits paths (relative to the working tree, or absolute inside it) with message,
// and returns the new commit; with nothing to commit it returns the current one.
func (c *Checkout) Commit(ctx context.Context, message string, paths ...string) (string, error) {
	args := append([]string{"add", "--"}, paths...)
	if _, err := c.git(ctx, args...); err != nil {
		return "", err
	}
	if _, err := c.git(ctx, "diff", "--cached", "--quiet"); err == nil {
		return c.Head(ctx) // nothing staged
	}
	if _, err := c.git(ctx, "commit", "--quiet", "--author", c.Author, "-m", message); err != nil {
		return "", err
	}
	return c.Head(ctx)
}

// Push pushes the branch. When the remote moved on, it rebases the local commits over it
// once and pushes again; a rebase that conflicts is aborted and reported as ErrConflict. It
// returns the commit pushed.
func (c *Checkout) Push(ctx context.Context) (string, error) {
	if _, err := c.git(ctx, "push", "--quiet", "origin", "HEAD:refs/heads/"+c.Branch); err == nil {
		return c.Head(ctx)
	}
	if _, err := c.git(ctx, "pull", "--quiet", "--rebase", "origin", c.Branch); err != nil {
		_, _ = c.git(ctx, "rebase", "--abort") // leave the tree as it was; the conflict is the error
		return "", fmt.Errorf("%w: %w", ErrConflict, err)
	}
	if _, err := c.git(ctx, "push", "--quiet", "origin", "HEAD:refs/heads/"+c.Branch); err != nil {
		return "", err
	}
	return c.Head(ctx)
}

// Pull brings the working tree to the remote branch's newest commit (fast-forward or rebase of
// local commits) and returns it.
func (c *Checkout) Pull(ctx context.Context) (string, error) {
	if _, err := c.git(ctx, "pull", "--quiet", "--rebase", "origin", c.Branch); err != nil {
		_, _ = c.git(ctx, "rebase", "--abort") // leave the tree as it was
		return "", err
	}
	return c.Head(ctx)
}

// Subject returns the first line of commit rev's message.
func (c *Checkout) Subject(ctx context.Context, rev string) (string, error) {
	return c.git(ctx, "log", "-1", "--format=%s", rev)
}

// Log returns the subjects of the commits in rev range from..to, newest first.
func (c *Checkout) Log(ctx context.Context, from, to string) ([]string, error) {
	out, err := c.git(ctx, "log", "--format=%h %s", from+".."+to)
	if err != nil || out == "" {
		return nil, err
	}
	return strings.Split(out, "\n"), nil
}

func (c *Checkout) git(ctx context.Context, args ...string) (string, error) {
	return c.run(ctx, c.Dir, args...)
}

// run runs git in dir, never prompting (a pipeline has no terminal), with a committer
// identity when the machine's git config has none.
func (c *Checkout) run(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	if os.Getenv("GIT_COMMITTER_NAME") == "" {
		cmd.Env = append(cmd.Env, "GIT_COMMITTER_NAME=bluegreen", "GIT_COMMITTER_EMAIL=bluegreen@localhost")
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}
