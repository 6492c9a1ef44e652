// Command gitops-images builds the GitOps tests' images (tarballs in the machine's image cache) when their
// changed: Argo CD v3.6.1 (argocd and Helm 4.3.1 beside Debian's git; the heaviest build in
// this repository), the in-cluster Git server and Redis, each cached by a hash of its inputs.
// It prints what it built and how long each took, then the total. `make images` runs it
// through hack/images.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/gitops"
)

func main() {
	root := flag.String("repo", ".", "repository root")
	flag.Parse()
	absRoot, err := filepath.Abs(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error: resolve repository root:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	imgs, err := gitops.EnsureImages(ctx, absRoot, func(f string, a ...any) { fmt.Fprintf(os.Stderr, "    "+f+"\n", a...) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	for _, img := range []struct{ role, ref, tarball string }{
		{"argo cd", imgs.ArgoCD.Ref, imgs.ArgoCD.Tarball},
		{"git server", imgs.GitServer.Ref, imgs.GitServer.Tarball},
		{"redis", imgs.Redis.Ref, imgs.Redis.Tarball},
	} {
		size := "?"
		if fi, err := os.Stat(img.tarball); err == nil {
			size = fmt.Sprintf("%.1f MB", float64(fi.Size())/1e6)
		}
		fmt.Printf("%-10s %-40s tarball %s  %s\n", img.role, img.ref, size, img.tarball)
	}
	fmt.Printf("gitops images ready in %s\n", time.Since(start).Round(time.Second))
}
