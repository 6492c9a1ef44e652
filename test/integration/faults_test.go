//go:build integration

package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stack"
)

// readyEndpoints counts the main Service's ready endpoints.
func (a *app) readyEndpoints(ctx context.Context) (int, error) {
	slices, err := a.c.Clientset.DiscoveryV1().EndpointSlices(a.ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + release})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if ptr.Deref(e.Conditions.Ready, false) {
				n++
			}
		}
	}
	return n, nil
}

// waitEndpoints waits until the main Service has want ready endpoints and returns how long
// that took.
func (a *app) waitEndpoints(want int, timeout time.Duration) time.Duration {
	a.t.Helper()
	began := time.Now()
	var last int
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		n, err := a.readyEndpoints(ctx)
		last = n
		return err == nil && n == want, nil
	})
	require.NoError(a.t, err, "main Service never reached %d ready endpoints (last %d)", want, last)
	return time.Since(began)
}

// restarts sums the restart counts of the release's containers.
func (a *app) restarts() int32 {
	a.t.Helper()
	pods, err := a.c.Clientset.CoreV1().Pods(a.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
	require.NoError(a.t, err)
	var n int32
	for _, p := range pods.Items {
		for _, s := range p.Status.ContainerStatuses {
			n += s.RestartCount
		}
	}
	return n
}

// TestDependencyOutage: with Redis down, every pod leaves the Service's endpoints within two
// readiness periods of a probe that acts on the first failure (the seed's /ready latched and
// never did); with Redis back, they return. Liveness never touches a dependency, so no
// container restarts. The same holds for the LLM provider failing, driven through the stand-in.
func TestDependencyOutage(t *testing.T) {
	parallel(t)
	const period = 2 * time.Second
	a := newApp(t, map[string]any{"readinessProbe": map[string]any{
		"httpGet": map[string]any{"path": "/ready", "port": "http"}, "periodSeconds": int(period.Seconds()), "timeoutSeconds": 2, "failureThreshold": 1,
	}})
	ctx := context.Background()
	a.waitEndpoints(2, time.Minute)

	require.NoError(t, stack.ScaleDependency(ctx, a.c.Clientset, a.ns, stack.RedisName, 0))
	// Scaling to zero returns before the pod stops; count from when Redis is really gone.
	a.waitDependencyGone(stack.RedisName)
	out := a.waitEndpoints(0, time.Minute)
	t.Logf("Redis stopped: every pod out of the endpoints after %s (readiness period %s)", out.Round(100*time.Millisecond), period)
	assert.LessOrEqual(t, out, 2*period+2*time.Second, "out within two readiness periods (plus probe timeout and endpoint propagation)")

	require.NoError(t, stack.ScaleDependency(ctx, a.c.Clientset, a.ns, stack.RedisName, 1))
	back := a.waitEndpoints(2, 2*time.Minute)
	t.Logf("Redis restored: both pods back after %s", back.Round(100*time.Millisecond))

	a.standin(ctx, "", map[string]any{"fail": true})
	out = a.waitEndpoints(0, time.Minute)
	t.Logf("LLM failing: every pod out after %s", out.Round(100*time.Millisecond))
	a.standin(ctx, "", map[string]any{})
	back = a.waitEndpoints(2, time.Minute)
	t.Logf("LLM recovered: both pods back after %s", back.Round(100*time.Millisecond))

	assert.Zero(t, a.restarts(), "liveness restarted a container during a dependency outage")
}

// waitDependencyGone waits until a dependency has no pod left.
func (a *app) waitDependencyGone(name string) {
	a.t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := a.c.Clientset.CoreV1().Pods(a.ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + name})
		return err == nil && len(pods.Items) == 0, nil
	})
	require.NoError(a.t, err, "%s pods never went away", name)
}

// TestRollingRestartUnderLoad: restarting the active colour's pods one by one while 200
// requests/s arrive loses nothing: maxUnavailable 0, readiness gating, the preStop delay and
// the server's drain carry every request. The load runs until the last old pod has exited.
func TestRollingRestartUnderLoad(t *testing.T) {
	parallel(t)
	a := newApp(t, nil)
	for _, keepAlive := range []bool{true, false} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		loadCtx, stopLoad := context.WithCancel(ctx)
		old := a.podNames(ctx, "blue")
		began := time.Now()
		wait := a.load(loadCtx, keepAlive, 2*time.Minute)
		a.kubectlRun("rollout", "restart", "deployment/"+release+"-blue")
		a.kubectlRun("rollout", "status", "deployment/"+release+"-blue", "--timeout=150s")
		a.waitPodsGone(ctx, old)
		took := time.Since(began)
		stopLoad()
		res := wait()
		cancel()
		t.Logf("rolling restart (keep-alive=%v): old pods gone after %s; %d requests, %d non-2xx, %d transport errors",
			keepAlive, took.Round(100*time.Millisecond), res.Total, res.Non2xx, res.TransportErrors)
		assert.Zero(t, res.Non2xx+res.TransportErrors, "requests failed during the rolling restart (keep-alive=%v)", keepAlive)
		assert.Greater(t, res.Total, 1000, "the load ran")
		assert.GreaterOrEqual(t, res.RequestsPerSecond, 180.0, "the load kept its rate")
	}
}

// colorPods lists a colour's pods, terminating ones included.
func (a *app) colorPods(ctx context.Context, color string) []corev1.Pod {
	a.t.Helper()
	pods, err := a.c.Clientset.CoreV1().Pods(a.ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release + ",color=" + color})
	require.NoError(a.t, err)
	return pods.Items
}

// podNames lists the names of a colour's pods.
func (a *app) podNames(ctx context.Context, color string) []string {
	a.t.Helper()
	var names []string
	for _, p := range a.colorPods(ctx, color) {
		names = append(names, p.Name)
	}
	return names
}

// waitPodsGone waits, bounded, until none of the named pods exists any more.
func (a *app) waitPodsGone(ctx context.Context, names []string) {
	a.t.Helper()
	var left []string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		left = left[:0]
		for _, n := range names {
			if _, err := a.c.Clientset.CoreV1().Pods(a.ns).Get(ctx, n, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				left = append(left, n)
			}
		}
		return len(left) == 0, nil
	})
	require.NoError(a.t, err, "pods %v never went away", left)
}
