//go:build integration

package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/cluster"
)

var (
	nodeInBody  = regexp.MustCompile(`^pod=(\S+) node=(\S+)`)
	fetchInBody = regexp.MustCompile(`^from pod=\S+ node=(\S+) got pod=\S+ node=(\S+)`)
)

// Node ports that the multi-node cluster maps to the same ports on 127.0.0.1: the echo
// Service of the pod-network check and the main Service of the drained release.
// The multi-node cluster's NodePorts on 127.0.0.1: past the shared cluster's 30080-30099,
// since both clusters' control planes bind their ports on the same host.
const (
	multiEchoPort = 30100
	multiAppPort  = 30101
)

// TestMultiNode runs the checks that need more than one node on a 1 control-plane + 2 worker
// cluster (ai-assistant-multi), made for this test, paused when it ends and deleted after the
// suite, unless KEEP_CLUSTER=1 (a kept cluster is reused by the next run). Running until the
// suite's end, its three idle nodes took about 0.2 of a core (top) from the tests after it;
// deleting it at once would disturb their loads (see main_test.go).
func TestMultiNode(t *testing.T) {
	parallel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	o := cluster.Options{Name: "ai-assistant-multi", Workers: 2, PortMappings: []cluster.PortMapping{
		{ContainerPort: multiEchoPort, HostPort: multiEchoPort, ListenAddress: "127.0.0.1"},
		{ContainerPort: multiAppPort, HostPort: multiAppPort, ListenAddress: "127.0.0.1"},
	}}
	var c *cluster.Cluster
	if os.Getenv("KEEP_CLUSTER") != "1" {
		deleteAfterSuite(o)
		// Registered before clusterForTest's cleanups, so it runs after them: they export the
		// logs of a failed test from the running nodes.
		t.Cleanup(func() {
			if c == nil {
				return
			}
			if err := c.Pause(context.Background()); err != nil {
				t.Log(err) // it is still deleted after the suite; only its CPU is not saved
			}
		})
	}
	c = clusterForTest(t, ctx, o)

	nodes, err := c.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	if len(nodes.Items) != 3 {
		t.Fatalf("cluster has %d nodes, want 3", len(nodes.Items))
	}
	t.Run("PodNetwork", func(t *testing.T) { testPodNetwork(t, ctx, c) })
	t.Run("DrainUnderLoad", func(t *testing.T) { testDrainUnderLoad(t, c) })
}

// testPodNetwork: our podnet agent lets pods on different workers reach each other, and a
// NodePort on loopback answers from pods on both workers.
func testPodNetwork(t *testing.T, ctx context.Context, c *cluster.Cluster) {
	const nodePort = multiEchoPort
	nodes, err := c.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	for _, n := range nodes.Items {
		if n.Spec.PodCIDR == "" {
			t.Errorf("node %s has no podCIDR", n.Name)
		}
	}

	sum := sha256.Sum256([]byte(clusterTestServer))
	image := "ai-assistant-clustertest:" + hex.EncodeToString(sum[:6])
	if err := c.LoadImageArchives(ctx, clusterServerImage(t, ctx, image)); err != nil {
		t.Fatalf("load image archive: %v", err)
	}
	ns := clusterTestNamespace(t, ctx, c.Clientset, "cluster-multi")
	const name = "echo"
	if _, err := c.Clientset.AppsV1().Deployments(ns).Create(ctx, clusterServerDeployment(name, image, 4, true), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	if _, err := c.Clientset.CoreV1().Services(ns).Create(ctx, clusterNodePortService(name, nodePort), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	clusterWaitAvailable(t, ctx, c.Clientset, ns, name, 3*time.Minute)

	pods, err := c.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	podNode := map[string]string{} // pod IP -> node
	for _, p := range pods.Items {
		podNode[p.Status.PodIP] = p.Spec.NodeName
	}
	if distinctValues(podNode) < 2 {
		t.Fatalf("pods landed on %v, want two workers (topology spread)", podNode)
	}

	url := fmt.Sprintf("http://127.0.0.1:%d/", nodePort)
	clusterGetUntilOK(t, ctx, url, 2*time.Minute)

	// The Service answers from pods on both workers: kube-proxy on the control plane forwards
	// to pods on other nodes, through podnet's routes.
	// No keep-alive: each request is a new connection, so kube-proxy picks a backend anew.
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	// kube-proxy on the control plane may still be adding the last endpoints: poll, bounded.
	seen := map[string]bool{}
	attempts, failures := 0, map[string]int{}
	err = clusterPoll(ctx, time.Minute, func() bool {
		attempts++
		body, err := clusterGet(client, url)
		if err != nil {
			failures[err.Error()]++
		} else if m := nodeInBody.FindStringSubmatch(body); m != nil {
			seen[m[2]] = true
		}
		return len(seen) == 2
	})
	if err != nil {
		t.Errorf("the NodePort answered only from nodes %v in %d requests, want two (failures %v)", seen, attempts, failures)
	} else {
		t.Logf("the NodePort answered from both workers within %d requests", attempts)
	}

	// Pod to pod across nodes: ask whichever pod answers to fetch from a pod on another node.
	crossed := false
	for i := 0; i < 60 && !crossed; i++ {
		for ip, node := range podNode {
			body, err := clusterGet(client, url+"get?ip="+ip)
			if err != nil {
				continue
			}
			m := fetchInBody.FindStringSubmatch(body)
			if m != nil && m[1] != m[2] && m[2] == node {
				t.Logf("cross-node pod traffic: %s", strings.TrimSpace(body))
				crossed = true
				break
			}
		}
	}
	if !crossed {
		t.Errorf("no pod reached a pod on another node through the pod network (pods %v)", podNode)
	}
}

func clusterGet(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return string(b), nil
}

func distinctValues(m map[string]string) int {
	s := map[string]bool{}
	for _, v := range m {
		s[v] = true
	}
	return len(s)
}
