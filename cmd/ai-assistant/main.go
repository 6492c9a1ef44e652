// Command ai-assistant is the AI assistant API server (see internal/server), configured by
// environment variables only. `ai-assistant healthcheck` probes a running server.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/buildinfo"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/config"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/healthcheck"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/server"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "healthcheck":
			os.Exit(runHealthcheck(os.Args[2:]))
		case "version", "--version":
			fmt.Println(buildinfo.Version)
			return
		}
	}
	os.Exit(serve())
}

func serve() int {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("invalid configuration", "err", err.Error())
		return 1
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	srv, err := server.New(cfg, buildinfo.Version, log)
	if err != nil {
		log.Error("create server", "err", err.Error())
		return 1
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		log.Error("listen", "port", cfg.Port, "err", err.Error())
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := srv.Serve(ctx, ln); err != nil {
		log.Error("server stopped", "err", err.Error())
		return 1
	}
	return 0
}

func runHealthcheck(args []string) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	port := os.Getenv("PORT") // same variable the server listens on, so the default follows it
	if port == "" {
		port = "8000"
	}
	url := fs.String("url", "http://127.0.0.1:"+port+"/ready", "URL to GET; 2xx means healthy")
	timeout := fs.Duration("timeout", 2*time.Second, "overall timeout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := healthcheck.Check(context.Background(), *url, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "unhealthy:", err)
		return 1
	}
	return 0
}
