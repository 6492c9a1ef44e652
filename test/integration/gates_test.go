//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/helm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stack"
)

// Exit codes of hack/bluegreen (see its README).
const (
	exitGateFailed  = 4
	exitReverted    = 5
	exitInterrupted = 130
)

// TestFailedGateKeepsTraffic: a version whose /ready fails (its database password is wrong)
// never takes traffic: the command exits with the gate-failed code naming the check, not one
// request is served by the bad colour, and activeColor is unchanged.
func TestFailedGateKeepsTraffic(t *testing.T) {
	parallel(t)
	a := newApp(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	revision := a.revision()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	wait := a.load(loadCtx, true, 3*time.Minute)

	badDB := strings.Replace(a.deps.DatabaseURL, "ai-assistant-test", "wrong-password", 1)
	args := append([]string{"deploy", "--tag", stack.Versions[1], "--env", "DATABASE_URL=" + badDB}, fastGates...)
	args = append(args, "--timeout", "20s") // long enough for green to start and fail /ready
	code, _, out := a.bluegreen(ctx, args...)
	stopLoad()
	res := wait()

	assert.Equal(t, exitGateFailed, code, "exit code:\n%s", lastLines(out, 30))
	assert.Contains(t, out, "GET /ready: 503", "the failure carries the pod's readiness answer")
	assert.Contains(t, out, "database", "and names the failing check")
	assert.Equal(t, "blue", a.activeColor(), "activeColor unchanged")
	assert.Zero(t, res.Counts["X-App-Color"]["green"], "requests served by the bad colour")
	assert.Zero(t, res.Non2xx+res.TransportErrors, "requests failed while the gate refused")
	assert.Greater(t, a.revision(), revision, "the idle colour was deployed through Helm, for inspection")
}

// TestPostSwitchFailureSwitchesBack: a version that passes the gate and then fails (its LLM
// scope starts failing right after the switch) is switched back automatically, before the
// kubelet takes its failing pods out of the endpoints, so not one request fails; the command
// says so with its exit code.
//
// The readiness probe here gives the kubelet 28 s (periodSeconds 2, failureThreshold 15)
// before it may mark a failing pod unready; the command needs three failed rounds 500 ms
// apart and a switch back (1.8 s on an idle machine, 11 s on one running three other tests
// and a build). With a probe that acts on the first failure the kubelet wins that race: then
// the Service has no ready endpoint until the switch back lands (422 of 7,736 requests
// failed), and the command warns of it.
func TestPostSwitchFailureSwitchesBack(t *testing.T) {
	parallel(t)
	a := newApp(t, map[string]any{"readinessProbe": map[string]any{
		"httpGet": map[string]any{"path": "/ready", "port": "http"}, "periodSeconds": 2, "timeoutSeconds": 2, "failureThreshold": 15,
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	wait := a.load(loadCtx, true, 4*time.Minute)

	// Fail green's LLM the moment the Service selects green.
	switched := make(chan time.Time, 1)
	go func() {
		_ = waitUntil(loadCtx, 20*time.Millisecond, func(ctx context.Context) bool {
			svc, err := a.c.Clientset.CoreV1().Services(a.ns).Get(ctx, release, metav1.GetOptions{})
			return err == nil && svc.Spec.Selector["color"] == "green"
		})
		switched <- time.Now()
		a.standin(context.Background(), "green", map[string]any{"fail": true})
	}()

	args := append([]string{"deploy", "--tag", stack.Versions[1], "--env", "LLM_BASE_URL=" + a.deps.LLMScopeURL("green")}, fastGates...)
	args = append(args, "--verify-for", "20s")
	code, _, out := a.bluegreen(ctx, args...)
	stopLoad()
	res := wait()

	require.Equal(t, exitReverted, code, "exit code:\n%s", lastLines(out, 30))
	assert.Contains(t, out, "traffic switched back to blue", "the command says it switched back")
	assert.Equal(t, "blue", a.activeColor())
	waitColor(t, a, "blue")
	at := <-switched
	failed := res.FailedSince(at)
	back := regexp.MustCompile(`selects blue again \(([0-9.]+m?s)\)`).FindStringSubmatch(out)
	require.NotNil(t, back, "the command says how long the switch back took:\n%s", lastLines(out, 30))
	t.Logf("post-switch failure: %d of %d requests failed after the switch at %s (%d served by green, switch back took %s)",
		failed, res.Total, at.Format("15:04:05.000"), res.Counts["X-App-Color"]["green"], back[1])
	assert.Greater(t, res.Counts["X-App-Color"]["green"], 0, "green took traffic before it was switched back")
	assert.NotContains(t, out, "can take a failing pod out of the endpoints", "the kubelet leaves the command time to switch back")
	assert.Zero(t, failed, "requests lost between green failing and the switch back")
}

// TestDeployMatchesTheActiveColoursScale: with the active colour scaled to 4 (as its HPA
// would under load), deploy brings the idle colour to 4 before switching.
func TestDeployMatchesTheActiveColoursScale(t *testing.T) {
	parallel(t)
	a := newApp(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// The HPA holds any count between its min (2) and max (6): newAppOn disables its scaling.
	a.kubectlRun("scale", "deployment/"+release+"-blue", "--replicas=4")
	a.waitEndpoints(4, 2*time.Minute)

	code, _, out := a.bluegreen(ctx, append([]string{"deploy", "--tag", stack.Versions[1]}, fastGates...)...)
	require.Equal(t, 0, code, "deploy:\n%s", lastLines(out, 30))
	assert.Equal(t, "green", a.activeColor())
	_, ready := deploymentReplicas(t, a, "green")
	assert.Equal(t, int32(4), ready, "green ready at the active colour's scale")
	assert.Equal(t, 4, a.readyEndpointsNow(), "the Service has all four green pods")

	var vals struct {
		Green struct {
			Replicas *int `json:"replicas"`
		} `json:"green"`
	}
	outVals, err := helm.RunHelmCommandAndGetStdOutE(t, a.helm, "get", "values", release, "-o", "json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(outVals), &vals))
	require.NotNil(t, vals.Green.Replicas, "the parity is recorded in the release")
	assert.Equal(t, 4, *vals.Green.Replicas)
}

// TestInterruptedCutoverConverges: the command is killed twice (while the idle colour rolls
// out, and right after the switch); running it again each time converges on green, and not
// one request fails along the way.
func TestInterruptedCutoverConverges(t *testing.T) {
	parallel(t)
	a := newApp(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	wait := a.load(loadCtx, true, 8*time.Minute)
	deploy := append([]string{"deploy", "--tag", stack.Versions[1]}, fastGates...)

	for _, kill := range []struct {
		when string
		cond func(ctx context.Context) bool
	}{
		{"while green rolls out", func(ctx context.Context) bool {
			d, err := a.c.Clientset.AppsV1().Deployments(a.ns).Get(ctx, release+"-green", metav1.GetOptions{})
			return err == nil && d.Status.Replicas > 0
		}},
		{"right after the switch", func(ctx context.Context) bool {
			svc, err := a.c.Clientset.CoreV1().Services(a.ns).Get(ctx, release, metav1.GetOptions{})
			return err == nil && svc.Spec.Selector["color"] == "green"
		}},
	} {
		runCtx, stopRun := context.WithCancel(ctx)
		go func() {
			if waitUntil(runCtx, 20*time.Millisecond, kill.cond) == nil {
				stopRun()
			}
		}()
		code, _, out := a.bluegreen(runCtx, deploy...)
		stopRun()
		// Both moments come well before the run's end (the gate, then the drain and the
		// post-switch check follow them), so the run must really have been interrupted.
		require.Equal(t, exitInterrupted, code, "killed %s:\n%s", kill.when, lastLines(out, 20))
		assert.Contains(t, out, "interrupted: run `bluegreen deploy` again to continue", "the interrupted run says how to continue")
	}
	code, _, out := a.bluegreen(ctx, deploy...)
	require.Equal(t, 0, code, "the run after the interruptions:\n%s", lastLines(out, 30))
	assert.Equal(t, "green", a.activeColor())
	waitColor(t, a, "green")
	stopLoad()
	res := wait()
	assert.Zero(t, res.Non2xx+res.TransportErrors, "requests failed across the interrupted cutover")
}

// readyEndpointsNow is the main Service's ready endpoint count.
func (a *app) readyEndpointsNow() int {
	a.t.Helper()
	n, err := a.readyEndpoints(context.Background())
	require.NoError(a.t, err)
	return n
}

// waitUntil polls cond until it holds or ctx ends.
func waitUntil(ctx context.Context, every time.Duration, cond func(context.Context) bool) error {
	return wait.PollUntilContextCancel(ctx, every, true, func(ctx context.Context) (bool, error) {
		return cond(ctx), nil
	})
}

// TestAnImageNoNodeCanPullFailsAtOnce: the kind nodes pull from no registry, as a real
// cluster's nodes fail on a mistyped tag. The deploy goes ahead (an image on no node is fine
// by default), and the rollout wait ends at once with the gate-failed code, naming the pod,
// ErrImagePull or ImagePullBackOff and the image, long before its timeout; traffic stays.
func TestAnImageNoNodeCanPullFailsAtOnce(t *testing.T) {
	parallel(t)
	a := newApp(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	wait := a.load(loadCtx, true, 3*time.Minute)

	args := append([]string{"deploy", "--tag", "v9.9.9-no-such-tag"}, fastGates...)
	args = append(args, "--timeout", "3m") // the bound the fail-fast must beat
	began := time.Now()
	code, _, out := a.bluegreen(ctx, args...)
	took := time.Since(began)
	stopLoad()
	res := wait()
	t.Logf("deploy of an unpullable image ended in %s (exit %d)", took.Round(100*time.Millisecond), code)

	assert.Equal(t, exitGateFailed, code, "exit code:\n%s", lastLines(out, 30))
	assert.Regexp(t, `pod ai-assistant-green-\S+: container api is (ErrImagePull|ImagePullBackOff) \(image \S+:v9\.9\.9-no-such-tag\)`, out)
	assert.Less(t, took, 90*time.Second, "ended at once, not at the 3m rollout timeout")
	assert.Equal(t, "blue", a.activeColor(), "activeColor unchanged")
	assert.Zero(t, res.Non2xx+res.TransportErrors, "requests failed while the deploy failed")
}
