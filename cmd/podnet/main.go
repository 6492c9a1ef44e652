// Command podnet is the pod-network agent of the offline kind node image (package podnet):
// a hostNetwork DaemonSet pod that writes its node's CNI config and routes to other nodes.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/podnet"
)

func main() {
	confDir := flag.String("cni-conf-dir", "/etc/cni/net.d", "CNI config directory (the host's, mounted)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *confDir); err != nil {
		log.Fatalf("podnet: %v", err)
	}
}

func run(ctx context.Context, confDir string) error {
	node := os.Getenv("NODE_NAME")
	if node == "" {
		return fmt.Errorf("NODE_NAME is not set")
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("in-cluster config: %w", err)
	}
	// kind's CONTROL_PLANE_ENDPOINT reaches the API server without the kubernetes Service,
	// which needs kube-proxy, which may not run yet.
	if ep := os.Getenv("CONTROL_PLANE_ENDPOINT"); ep != "" {
		cfg.Host = "https://" + ep
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("make client: %w", err)
	}
	a := &podnet.Agent{Client: cs, NodeName: node, ConfDir: confDir, Routes: podnet.NetlinkRoutes{}, Logf: log.Printf}
	log.Printf("podnet: configuring node %s", node)
	return a.Run(ctx)
}
