// Command git-http serves the bare Git repositories under GIT_ROOT (default /srv/git) over
// HTTP on PORT (default 8080), fetch and push, through Debian's git http-backend (see
// internal/gitops/gitserver). It is the GitOps tests' in-cluster Git server: no
// authentication, so it belongs on a test cluster only.
package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/gitops/gitserver"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	port := 8080
	if v := os.Getenv("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			log.Error("invalid PORT: not a port number", "value", v)
			os.Exit(1)
		}
		port = p
	}
	root := os.Getenv("GIT_ROOT")
	if root == "" {
		root = "/srv/git"
	}
	srv := &http.Server{Addr: ":" + strconv.Itoa(port), Handler: &gitserver.Handler{Root: root}, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx) // exiting either way
	}()
	log.Info("serving git repositories", "root", root, "port", port)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("serve", "err", err.Error())
		os.Exit(1)
	}
}
