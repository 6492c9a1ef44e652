// Command cluster creates (or reuses) or deletes the project's kind cluster (package cluster).
//
//	go run ./hack/cluster up [-workers N] [-name NAME]
//	go run ./hack/cluster down [-name NAME]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/cluster"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "up" && os.Args[1] != "down") {
		fmt.Fprintln(os.Stderr, "usage: cluster up|down [-name NAME] [-workers N]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	name := fs.String("name", cluster.DefaultName, "kind cluster name")
	workers := fs.Int("workers", 0, "worker nodes beside the control plane (up only)")
	_ = fs.Parse(os.Args[2:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := cluster.Options{Name: *name, Workers: *workers, Logger: logf}
	var err error
	if os.Args[1] == "up" {
		err = up(ctx, opts)
	} else {
		err = cluster.Delete(ctx, opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func up(ctx context.Context, opts cluster.Options) error {
	c, err := cluster.Ensure(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Printf(`
Cluster %q is ready.
  export KUBECONFIG=%s
  %s get nodes          # the kubectl of the cluster's version (not /usr/bin/kubectl)
NodePorts 30080-30099 answer on 127.0.0.1. Delete it with: make cluster-down
`, c.Name, c.KubeconfigPath, c.Kubectl)
	return nil
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "==> "+format+"\n", args...) }
