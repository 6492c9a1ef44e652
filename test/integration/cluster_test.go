//go:build integration

// Package integration holds the suites that run on a real kind cluster; run them with
// go test -tags integration ./test/integration/ (see hack/cluster.sh for the cluster itself).
package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/cluster"
)

// TestClusterServesNodePortOnLoopback: the shared cluster comes up (or is reused), an image
// tarball loads into its nodes with no registry, and a NodePort Service answers on 127.0.0.1.
func TestClusterServesNodePortOnLoopback(t *testing.T) {
	parallel(t) // its own node ports (30083-30085), none of mainPorts
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	c := clusterForTest(t, ctx, cluster.Options{})

	// The harness hands out a kubectl of the cluster's own version, never the machine's.
	out, err := exec.CommandContext(ctx, c.Kubectl, "--kubeconfig", c.KubeconfigPath, "version", "-o", "yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl version against the cluster: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "serverVersion") || !strings.Contains(string(out), "v1.37") {
		t.Errorf("kubectl version output lacks a v1.37 client and server:\n%s", out)
	}

	sum := sha256.Sum256([]byte(clusterTestServer))
	image := "ai-assistant-clustertest:" + hex.EncodeToString(sum[:6])
	began := time.Now()
	tarball := clusterServerImage(t, ctx, image)
	if err := c.LoadImageArchives(ctx, tarball); err != nil {
		t.Fatalf("load image archive: %v", err)
	}
	t.Logf("image %s built and loaded in %s", image, time.Since(began).Round(100*time.Millisecond))

	// A node that holds the image is skipped by the next load; one whose image is gone (the
	// kubelet's image garbage collection) gets it again.
	imageHeld := func() bool {
		t.Helper()
		held, err := c.HasImageArchive(ctx, tarball)
		if err != nil {
			t.Fatal(err)
		}
		return held
	}
	if !imageHeld() {
		t.Fatalf("after the load, the node does not hold %s", image)
	}
	if out, err := exec.CommandContext(ctx, "docker", "exec", c.Name+"-control-plane", "ctr", "--namespace=k8s.io", "images", "rm", "docker.io/library/"+image).CombinedOutput(); err != nil {
		t.Fatalf("remove %s from the node: %v\n%s", image, err, out)
	}
	if imageHeld() {
		t.Fatalf("the node still holds %s after ctr images rm", image)
	}
	if err := c.LoadImageArchives(ctx, tarball); err != nil {
		t.Fatalf("load image archive again: %v", err)
	}
	if !imageHeld() {
		t.Fatalf("the load after ctr images rm did not bring %s back", image)
	}

	ns := clusterTestNamespace(t, ctx, c.Clientset, "cluster-test")
	const name, nodePort = "echo", 30085 // 30080/30081 are the chart's in other suites
	if _, err := c.Clientset.AppsV1().Deployments(ns).Create(ctx, clusterServerDeployment(name, image, 2, false), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	if _, err := c.Clientset.CoreV1().Services(ns).Create(ctx, clusterNodePortService(name, nodePort), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	began = time.Now()
	clusterWaitAvailable(t, ctx, c.Clientset, ns, name, 3*time.Minute)
	body := clusterGetUntilOK(t, ctx, "http://127.0.0.1:30085/", 2*time.Minute)
	t.Logf("first HTTP 200 from 127.0.0.1:%d after %s: %s", nodePort, time.Since(began).Round(100*time.Millisecond), strings.TrimSpace(body))
	if !strings.HasPrefix(body, "pod="+name+"-") {
		t.Errorf("body %q does not come from a pod of deployment %s", body, name)
	}
}
