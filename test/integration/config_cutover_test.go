//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/helm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/cli"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/loadgen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stack"
)

// The config cutovers: `bluegreen deploy --set` with the chart's shared key names stages a
// configuration or secret change under the idle colour alone. Each test runs two loads at
// once through the main Service, 200 requests/s each, one on keep-alive connections and one
// with a fresh connection per request.

// configGates are the gate flags of these tests: fastGates with a rollout bound long enough
// for green to start (with four tests and the harnesses' stacks sharing two cores, a pod
// can take 20 s to be Ready) and fail /ready, so a failing gate ends in about a minute.
var configGates = append(append([]string{}, fastGates...), "--timeout", "45s", "--gate-timeout", "30s") // the last --timeout wins

// bothLoads runs the keep-alive and the fresh-connection load side by side; the returned
// function stops neither, it waits for both (cancel ctx first) and returns their results.
func (a *app) bothLoads(ctx context.Context, d time.Duration) func() map[string]loadgen.Result {
	a.t.Helper()
	keep := a.load(ctx, true, d)
	fresh := a.load(ctx, false, d)
	return func() map[string]loadgen.Result {
		return map[string]loadgen.Result{"keep-alive": keep(), "fresh connections": fresh()}
	}
}

// logLoads prints each load's figures and requires that none of its requests failed.
func logLoads(t *testing.T, results map[string]loadgen.Result, during string) {
	t.Helper()
	for mode, res := range results {
		t.Logf("%s: %d requests at %.0f/s, %d non-2xx, %d transport errors, colours %v",
			mode, res.Total, res.RequestsPerSecond, res.Non2xx, res.TransportErrors, res.Counts["X-App-Color"])
		assert.Zero(t, res.Non2xx+res.TransportErrors, "requests failed %s (%s)", during, mode)
		assert.Greater(t, res.Total, 1000, "the load ran (%s)", mode)
	}
}

// configMapValue is one key of a colour's own ConfigMap.
func (a *app) configMapValue(color, key string) string {
	a.t.Helper()
	cm, err := a.c.Clientset.CoreV1().ConfigMaps(a.ns).Get(context.Background(), release+"-"+color, metav1.GetOptions{})
	require.NoError(a.t, err, "the ConfigMap of %s", color)
	return cm.Data[key]
}

// timedBluegreen runs the command and logs how long it took.
func (a *app) timedBluegreen(ctx context.Context, args ...string) (int, string) {
	a.t.Helper()
	began := time.Now()
	code, _, out := a.bluegreen(ctx, args...)
	a.t.Logf("bluegreen %s took %s (exit %d)", args[0], time.Since(began).Round(100*time.Millisecond), code)
	return code, out
}

// TestConfigCutoverModel: `deploy --set config.DEFAULT_MODEL=gpt-4o-mini` under load
// switches to green with no failed request, and the release records the model under green;
// `rollback` then returns traffic to blue, whose own ConfigMap never changed.
func TestConfigCutoverModel(t *testing.T) {
	parallel(t)
	a := newApp(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	require.Equal(t, "deepseek-chat", a.configMapValue("blue", "DEFAULT_MODEL"), "blue starts on the chart's default model")

	watch := stack.WatchSelector(a.c.Clientset, a.ns, release)
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	wait := a.bothLoads(loadCtx, 8*time.Minute)
	window(3 * time.Second)

	code, out := a.timedBluegreen(ctx, append([]string{"deploy", "--set", "config.DEFAULT_MODEL=gpt-4o-mini", "--scale-down-delay", "10m"}, configGates...)...)
	require.Equal(t, 0, code, "deploy:\n%s", lastLines(out, 30))
	assert.Equal(t, "green", a.activeColor())
	waitColor(t, a, "green")
	svc, err := a.c.Clientset.CoreV1().Services(a.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "green", svc.Spec.Selector["color"], "the Service selects green")
	assert.Equal(t, "gpt-4o-mini", a.configMapValue("green", "DEFAULT_MODEL"), "green's ConfigMap has the new model")
	assert.Equal(t, "deepseek-chat", a.configMapValue("blue", "DEFAULT_MODEL"), "blue's ConfigMap is untouched")

	// The switch moved the shared block to what green serves; blue keeps its old model.
	var vals struct {
		Config map[string]any `json:"config"`
		Blue   struct {
			Config map[string]any `json:"config"`
		} `json:"blue"`
	}
	outVals, err := helm.RunHelmCommandAndGetStdOutE(t, a.helm, "get", "values", release, "-o", "json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(outVals), &vals))
	assert.Equal(t, "gpt-4o-mini", vals.Config["DEFAULT_MODEL"], "the release's shared block holds the model green serves")
	assert.Equal(t, "deepseek-chat", vals.Blue.Config["DEFAULT_MODEL"], "blue's block holds the model it ran")

	code, out = a.timedBluegreen(ctx, append([]string{"rollback"}, configGates...)...)
	require.Equal(t, 0, code, "rollback:\n%s", lastLines(out, 30))
	assert.Equal(t, "blue", a.activeColor())
	waitColor(t, a, "blue")
	assert.Equal(t, "deepseek-chat", a.configMapValue("blue", "DEFAULT_MODEL"), "blue still runs the old model")
	window(3 * time.Second)
	stopLoad()
	results := wait()
	events := watch.Stop()

	logLoads(t, results, "across the config cutover and the rollback")
	switches := events // changes only: the selector the watch first found is none
	require.GreaterOrEqual(t, len(switches), 2, "the switch to green and back seen on the Service: %v", events)
	for mode, res := range results {
		for j, e := range switches {
			var until time.Time
			if j+1 < len(switches) {
				until = switches[j+1].At
			}
			lat, err := res.SwitchLatencyWithin(e.At, until, "X-App-Color", e.Color)
			if err != nil {
				t.Errorf("%s: switch to %s at %s: responses never all came from %s: %v", mode, e.Color, e.At.Format("15:04:05.000"), e.Color, err)
				continue
			}
			t.Logf("%s: switch to %-5s traffic moved in %s", mode, e.Color, lat.Round(time.Millisecond))
		}
	}
}

// TestConfigCutoverUnlistedModel: a model the LLM does not list fails green's /ready; the
// gate refuses it naming the llm check and the model, and traffic never leaves blue.
func TestConfigCutoverUnlistedModel(t *testing.T) {
	parallel(t)
	testConfigGateRefuses(t, "config.DEFAULT_MODEL=no-such-model", `model \"no-such-model\" is not listed`)
}

// TestConfigCutoverWrongKey: a wrong LLM API key (the stand-in answers 401) fails green's
// /ready the same way.
func TestConfigCutoverWrongKey(t *testing.T) {
	parallel(t)
	testConfigGateRefuses(t, "secrets.DEEPSEEK_API_KEY=wrong-key", "status 401: the API key was refused")
}

// testConfigGateRefuses deploys set under load and requires the gate to refuse it: exit
// code 4, the output naming the llm check and want, no request served by green or failed,
// and blue's pods the same pods, never restarted, from before the deploy to the end.
func testConfigGateRefuses(t *testing.T, set, want string) {
	a := newApp(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	before := podRestarts(a.colorPods(ctx, "blue"))
	require.NotEmpty(t, before, "blue has pods")

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	wait := a.bothLoads(loadCtx, 4*time.Minute)
	window(3 * time.Second)
	code, out := a.timedBluegreen(ctx, append([]string{"deploy", "--set", set}, configGates...)...)
	assert.Equal(t, cli.ExitGateFailed, code, "exit code:\n%s", lastLines(out, 30))
	assert.Contains(t, out, `"llm":{"status":"failed"`, "the failure names the llm check, from green's /ready")
	assert.Contains(t, out, want, "and why it fails")
	assert.Equal(t, "blue", a.activeColor(), "activeColor unchanged")
	window(5 * time.Second) // the load keeps running on blue after the refusal
	stopLoad()
	results := wait()

	logLoads(t, results, "while the gate refused "+set)
	for mode, res := range results {
		assert.Zero(t, res.Counts["X-App-Color"]["green"], "requests served by green (%s)", mode)
	}
	after := podRestarts(a.colorPods(context.Background(), "blue"))
	assert.Equal(t, before, after, "blue's pods (UID: restarts) from before the deploy to the end")
	t.Logf("blue pods before %v, after %v", before, after)
}

// podRestarts maps each pod's UID to its containers' total restart count.
func podRestarts(pods []corev1.Pod) map[string]int32 {
	m := map[string]int32{}
	for _, p := range pods {
		var n int32
		for _, s := range p.Status.ContainerStatuses {
			n += s.RestartCount
		}
		m[string(p.UID)] = n
	}
	return m
}

// TestConfigCutoverWithMetricsOff: with PROMETHEUS_ENABLED=false the pods serve no /metrics;
// a deploy under load still drains the old colour, reading its users' requests from /health,
// says so, and switches with no failed request instead of switching back.
func TestConfigCutoverWithMetricsOff(t *testing.T) {
	parallel(t)
	a := newAppSet(t, nil, map[string]string{"config.PROMETHEUS_ENABLED": "false"})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	wait := a.bothLoads(loadCtx, 4*time.Minute)
	window(3 * time.Second)
	code, out := a.timedBluegreen(ctx, append([]string{"deploy", "--set", "config.LOG_LEVEL=DEBUG"}, configGates...)...)
	require.Equal(t, 0, code, "deploy with /metrics off:\n%s", lastLines(out, 30))
	assert.Contains(t, out, "user requests read from /health (user_requests_total): the pods serve no /metrics")
	assert.Equal(t, "green", a.activeColor())
	waitColor(t, a, "green")
	window(3 * time.Second)
	stopLoad()
	logLoads(t, wait(), "across a cutover with /metrics off")
}

// TestConfigCutoverKeepsAConcurrentUpgrade: while deploy waits for green and gates it,
// someone runs `helm upgrade --reuse-values --set config.X=...`. That revision rolls both
// colours (the shared block reaches them); the rollout wait and the gate follow green's new
// pods, the switch re-reads the release and writes only its own change over it, and the value
// is still in `helm get values` after the cutover, with no failed request.
func TestConfigCutoverKeepsAConcurrentUpgrade(t *testing.T) {
	parallel(t)
	a := newApp(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	wait := a.bothLoads(loadCtx, 5*time.Minute)

	// The upgrade lands once green's first pods are up: during the rollout wait or the gate
	// (12 passes, 6 s at least), whichever the command is in.
	upgraded := make(chan error, 1)
	go func() {
		err := waitUntil(loadCtx, 100*time.Millisecond, func(ctx context.Context) bool {
			d, err := a.c.Clientset.AppsV1().Deployments(a.ns).Get(ctx, release+"-green", metav1.GetOptions{})
			return err == nil && d.Status.ReadyReplicas > 0 && d.Status.ReadyReplicas == d.Status.Replicas
		})
		if err == nil {
			_, err = helm.RunHelmCommandAndGetOutputE(t, a.helm, "upgrade", release, chartDir, "--reuse-values", "--set", "config.FEATURE_FLAG=on")
		}
		upgraded <- err
	}()
	// A rollout bound long enough for green to roll a second time.
	args := append(append([]string{"deploy", "--tag", stack.Versions[1]}, configGates...), "--gate-passes", "12", "--gate-timeout", "3m", "--timeout", "3m")
	code, out := a.timedBluegreen(ctx, args...)
	require.NoError(t, <-upgraded, "the concurrent helm upgrade")
	require.Equal(t, 0, code, "deploy beside a concurrent upgrade:\n%s", lastLines(out, 40))
	assert.Contains(t, out, "appeared since revision", "the command says it re-read the release")

	vals, err := helm.RunHelmCommandAndGetStdOutE(t, a.helm, "get", "values", release, "-o", "json")
	require.NoError(t, err)
	var got struct {
		Config map[string]any `json:"config"`
	}
	require.NoError(t, json.Unmarshal([]byte(vals), &got))
	assert.Equal(t, "on", got.Config["FEATURE_FLAG"], "the concurrent upgrade's value survived the cutover")
	assert.Equal(t, "on", a.configMapValue("green", "FEATURE_FLAG"), "and green runs it")
	assert.Equal(t, "green", a.activeColor())
	waitColor(t, a, "green")
	window(3 * time.Second)
	stopLoad()
	logLoads(t, wait(), "across a cutover beside a concurrent upgrade")
}
