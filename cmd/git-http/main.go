// Command git-http serves the bare Git repositories under GIT_ROOT (default /srv/git) over
// HTTP on PORT (default 8080), fetch and push, through Debian's git http-backend (see
// internal/gitops/gitserver). It is the GitOps tests' in-cluster Git server: no
// authentication, so it belongs on a test cluster only.
package main

import (
	"log/slog"
	"os"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/gitops/gitserver"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/serve"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	port, err := serve.Port(8080)
	if err != nil {
		log.Error(err.Error())
		os.Exit(1)
	}
	root := os.Getenv("GIT_ROOT")
	if root == "" {
		root = "/srv/git"
	}
	log.Info("serving git repositories", "root", root, "port", port)
	if err := serve.Run(&gitserver.Handler{Root: root}, port, 10*time.Second); err != nil {
		log.Error("serve", "err", err.Error())
		os.Exit(1)
	}
}
