// Command demo is `make demo`: cluster, images, install, a cutover under load, and a report.
// The cluster stays up; `make demo-down` removes it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/demo"
)

func main() {
	root, err := filepath.Abs(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// MONITORING=1 adds the monitoring stack and a report of what Prometheus saw; INGRESS=1
	// the ingress stack and the chart's Ingress.
	o := demo.Options{RepoRoot: root, Out: os.Stdout, Monitoring: os.Getenv("MONITORING") == "1", Ingress: os.Getenv("INGRESS") == "1"}
	if err := demo.Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
