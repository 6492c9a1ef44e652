//go:build integration

package integration

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/cluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stack"
)

// drainReplicas is the release's scale in the drain test: enough for two pods per worker, so
// draining one asks the PodDisruptionBudget (maxUnavailable 1) for two evictions at once.
const drainReplicas = 4

// testDrainUnderLoad: four replicas spread over both workers (the chart's topology spread).
// Draining the worker that holds more of them while 200 requests/s arrive evicts its pods
// one at a time, because the PodDisruptionBudget refuses the next eviction until the last
// one's replacement is Ready; no request fails. Then the other worker, which by then holds
// every pod, is drained the same way under fresh connections. The dependencies run on the
// control plane, so only the application is disrupted.
func testDrainUnderLoad(t *testing.T, c *cluster.Cluster) {
	_, imgs := appCluster(t) // the built images, and helm and kubectl on PATH
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	require.NoError(t, c.LoadImageArchives(ctx, imgs.ServerTarballs()...), "load the server images into every node")
	require.NoError(t, c.LoadImageArchivesOnControlPlane(ctx, imgs.DependencyTarballs()...), "load the dependencies' images where they run")
	a := newAppOn(t, appSetup{
		cluster: c, images: imgs, port: multiAppPort,
		values:  map[string]any{"replicaCount": drainReplicas, "autoscaling": map[string]any{"enabled": false}},
		depOpts: []stack.PodOption{stack.OnControlPlane},
	})

	byNode := a.readyPodsByNode(ctx, "blue")
	t.Logf("blue pods per node after install: %v", byNode)
	require.Len(t, byNode, 2, "the %d replicas spread over both workers", drainReplicas)
	workers := slices.Sorted(maps.Keys(byNode))

	for _, keepAlive := range []bool{true, false} {
		node := busiestNode(byNode)
		require.GreaterOrEqual(t, byNode[node], 2, "the drained node holds two pods, so the budget must refuse one eviction")
		t.Cleanup(func() { a.kubectlRun("uncordon", node) }) // a kept cluster stays usable

		loadCtx, stopLoad := context.WithCancel(ctx)
		wait := a.load(loadCtx, keepAlive, 3*time.Minute)
		lowest := a.watchReadyEndpoints(loadCtx)
		began := time.Now()
		out := a.kubectlRun("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=3m")
		took := time.Since(began)
		a.waitEndpoints(drainReplicas, 2*time.Minute)
		stopLoad()
		res := wait()

		t.Logf("drained %s (%d pods, keep-alive=%v) in %s; lowest ready endpoints %d of %d; %d requests, %d non-2xx, %d transport errors",
			node, byNode[node], keepAlive, took.Round(100*time.Millisecond), <-lowest, drainReplicas, res.Total, res.Non2xx, res.TransportErrors)
		assert.Contains(t, out, "disruption budget", "the PodDisruptionBudget held back an eviction:\n%s", out)
		assert.Zero(t, res.Non2xx+res.TransportErrors, "requests failed during the drain (keep-alive=%v)", keepAlive)
		assert.Greater(t, res.Total, 1000, "the load ran")
		assert.GreaterOrEqual(t, res.RequestsPerSecond, 180.0, "the load kept its rate")

		other := workers[0]
		if other == node {
			other = workers[1]
		}
		byNode = a.readyPodsByNode(ctx, "blue")
		require.Equal(t, map[string]int{other: drainReplicas}, byNode, "every pod moved off the drained node %s", node)
		a.kubectlRun("uncordon", node)
	}
}

// readyPodsByNode counts a colour's Ready pods that are not terminating, per node.
func (a *app) readyPodsByNode(ctx context.Context, color string) map[string]int {
	a.t.Helper()
	n := map[string]int{}
	for _, p := range a.colorPods(ctx, color) {
		if p.DeletionTimestamp == nil && podReady(p) {
			n[p.Spec.NodeName]++
		}
	}
	return n
}

// watchReadyEndpoints polls the main Service's ready endpoints until ctx ends and then sends
// the lowest count it saw: a figure for the log, since a poll can miss a dip.
func (a *app) watchReadyEndpoints(ctx context.Context) <-chan int {
	lowest := make(chan int, 1)
	go func() {
		low := drainReplicas
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				lowest <- low
				return
			case <-tick.C:
				if n, err := a.readyEndpoints(ctx); err == nil && n < low {
					low = n
				}
			}
		}
	}()
	return lowest
}

// busiestNode is the node with the most pods (the first by name on a tie).
func busiestNode(byNode map[string]int) string {
	best := ""
	for _, n := range slices.Sorted(maps.Keys(byNode)) {
		if best == "" || byNode[n] > byNode[best] {
			best = n
		}
	}
	return best
}
