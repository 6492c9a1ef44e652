// Package gitserver serves bare Git repositories over Git's smart HTTP protocol, fetch and
// push, by running Debian's `git http-backend` as a CGI program: the in-cluster Git server the
// GitOps tests seed and Argo CD syncs from. Git's own backend speaks the protocol; this
// package only maps requests onto it and creates a repository on its first push, which
// http-backend will not do.
package gitserver

import (
	"fmt"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// DefaultBackend is where Debian's git package installs http-backend.
const DefaultBackend = "/usr/lib/git-core/git-http-backend"

// repoName is a repository path's first segment: <name>.git, nothing that climbs out of Root.
var repoName = regexp.MustCompile(`^/([A-Za-z0-9][A-Za-z0-9._-]*\.git)(/|$)`)

// Handler serves every bare repository under Root at /<name>.git.
type Handler struct {
	// Root holds the bare repositories.
	Root string
	// Backend is git http-backend's path (DefaultBackend when empty).
	Backend string

	mu sync.Mutex // one creation of a repository at a time
}

// ServeHTTP answers /healthz, and hands every request for /<name>.git/... to http-backend,
// first creating the repository when a push (git-receive-pack) finds none.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		w.WriteHeader(http.StatusOK)
		return
	}
	m := repoName.FindStringSubmatch(r.URL.Path)
	if m == nil || strings.Contains(r.URL.Path, "..") {
		http.NotFound(w, r)
		return
	}
	if pushing(r) {
		if err := h.ensureRepo(m[1]); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	backend := h.Backend
	if backend == "" {
		backend = DefaultBackend
	}
	cgiHandler := &cgi.Handler{
		Path: backend,
		Dir:  h.Root,
		Env: []string{
			"GIT_PROJECT_ROOT=" + h.Root,
			"GIT_HTTP_EXPORT_ALL=1",
			// http-backend refuses a push from an unauthenticated user unless the repository
			// enables http.receivepack; ensureRepo does, and REMOTE_USER names the pusher in
			// the reflog.
			"REMOTE_USER=bluegreen",
		},
		InheritEnv: []string{"PATH", "HOME"},
	}
	cgiHandler.ServeHTTP(w, r)
}

// pushing reports a request of git push: the ref advertisement for, or the upload to,
// git-receive-pack.
func pushing(r *http.Request) bool {
	return r.URL.Query().Get("service") == "git-receive-pack" || strings.HasSuffix(r.URL.Path, "/git-receive-pack")
}

// ensureRepo creates the bare repository name under Root, with pushes enabled, unless it
// exists.
func (h *Handler) ensureRepo(name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	dir := filepath.Join(h.Root, name)
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		return nil
	}
	for _, args := range [][]string{
		{"init", "--quiet", "--bare", "--initial-branch=main", dir},
		{"-C", dir, "config", "http.receivepack", "true"},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("create repository %s: git %s: %w: %s", name, strings.Join(args, " "), err, out)
		}
	}
	return nil
}
