// Command kindnode builds the offline kind node image (package kindnode) and prints its tag.
//
//	go run ./hack/kindnode            # build what is missing, print the tag
//	go run ./hack/kindnode -tag       # print the tag the inputs give, build nothing
//	go run ./hack/kindnode -service-images  # PostgreSQL and Redis images + tarballs
//	go run ./hack/kindnode -control-plane   # only kube-apiserver, kube-controller-manager, etcd
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/debimage"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/imagebuild"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/kindnode"
)

func main() {
	version := flag.String("kubernetes-version", kindnode.DefaultKubernetesVersion, "Kubernetes version to build")
	tagOnly := flag.Bool("tag", false, "print the tag the current inputs give and build nothing")
	services := flag.Bool("service-images", false, "build the PostgreSQL and Redis images instead, print \"ref tarball\" for each")
	controlPlane := flag.Bool("control-plane", false, "build (or find) only the binaries of a test control plane (kube-apiserver, kube-controller-manager, etcd), print their paths")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := run
	switch {
	case *services:
		run = func(ctx context.Context, _ string, _ bool) error { return runServices(ctx) }
	case *controlPlane:
		run = func(ctx context.Context, version string, _ bool) error { return runControlPlane(ctx, version) }
	}
	if err := run(ctx, *version, *tagOnly); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, version string, tagOnly bool) error {
	root, err := kindnode.FindRepoRoot()
	if err != nil {
		return err
	}
	b := kindnode.New(kindnode.Options{RepoRoot: root, KubernetesVersion: version, Logf: logf})
	var tag string
	if tagOnly {
		tag, err = b.Tag(ctx)
	} else {
		tag, err = b.Build(ctx)
	}
	if err != nil {
		return err
	}
	fmt.Println(tag)
	return nil
}

// runControlPlane builds what package testenv's StartKubeAPI runs, into the node image's cache.
func runControlPlane(ctx context.Context, version string) error {
	root, err := kindnode.FindRepoRoot()
	if err != nil {
		return err
	}
	bins, err := kindnode.ControlPlaneBinaries(ctx, kindnode.Options{RepoRoot: root, KubernetesVersion: version, Logf: logf})
	if err != nil {
		return err
	}
	fmt.Println(bins.KubeAPIServer)
	fmt.Println(bins.KubeControllerManager)
	fmt.Println(bins.Etcd)
	return nil
}

// runServices builds the Debian-based PostgreSQL and Redis images the cluster tests use, with
// their tarballs in the machine's image cache (imagebuild.MachineCacheDir).
func runServices(ctx context.Context) error {
	root, err := kindnode.FindRepoRoot()
	if err != nil {
		return err
	}
	pg, redis, err := debimage.EnsureServiceImages(ctx, filepath.Join(root, ".cache", "kindnode"), imagebuild.MachineCacheDir(root), logf)
	if err != nil {
		return err
	}
	fmt.Println(pg)
	fmt.Println(redis)
	return nil
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "==> "+format+"\n", args...) }
