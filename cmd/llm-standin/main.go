// Command llm-standin serves the OpenAI-compatible LLM stand-in (see internal/standin) that
// tests and the demo use in place of a real provider. PORT overrides the default 8080.
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

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/buildinfo"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/healthcheck"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/standin"
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
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		if err := healthcheck.Check(context.Background(), "http://127.0.0.1:"+strconv.Itoa(port)+"/healthz", 2*time.Second); err != nil {
			log.Error("unhealthy", "err", err.Error())
			os.Exit(1)
		}
		return
	}

	srv := &http.Server{Addr: ":" + strconv.Itoa(port), Handler: standin.New(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("llm stand-in serving", "port", port, "version", buildinfo.Version)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Error("serve", "err", err.Error())
		os.Exit(1)
	}
}
