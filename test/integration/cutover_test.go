//go:build integration

package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/loadgen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stack"
)

// patchSelector is the seed's way: a kubectl patch of the Service selector.
func (a *app) patchSelector(color string) {
	a.t.Helper()
	patch := fmt.Sprintf(`{"spec":{"selector":{"color":%q}}}`, color)
	_, err := a.c.Clientset.CoreV1().Services(a.ns).Patch(context.Background(), release, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	require.NoError(a.t, err)
}

// TestCutoverUnderLoad: 200 requests/s with keep-alive connections and, at the same time,
// 200 requests/s with a fresh connection per request, on loopback through the main Service
// for the whole run, while the cutover command deploys v1 -> v2 and rolls back and forth four
// times (five switches), then scales the old colour down. Every request must succeed. It
// prints, per load, the switch latency of each switch (from the selector change until every
// later response carries the new colour), the seed's selector patch for comparison, and
// p50/p99 before, during and after. It runs beside the other tests, as the rest of the suite
// does: its figures are those of a busy two-core machine (run it alone with -run for a quiet
// one; CUTOVER_MODE=true or false runs one load only).
func TestCutoverUnderLoad(t *testing.T) {
	parallel(t)
	a := newApp(t, nil)
	cutoverUnderLoad(t, a, "")
}

// cutoverLoad is one of the loads cutoverUnderLoad runs at once.
type cutoverLoad struct {
	mode   string
	follow *follower
	wait   func() loadgen.Result
}

// cutoverUnderLoad is TestCutoverUnderLoad wherever a.loadObserved sends the load (the main
// Service's node port, or an Ingress: TestIngressCutoverUnderLoad, whose mode names start
// with via). Both loads share the switches: each is measured on its own.
func cutoverUnderLoad(t *testing.T, a *app, via string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	// A watch: each selector change is timed as it is delivered, with no polling.
	watch := stack.WatchSelector(a.c.Clientset, a.ns, release)
	began := time.Now()
	var loads []cutoverLoad
	for _, keepAlive := range []bool{true, false} {
		if os.Getenv("CUTOVER_MODE") != "" && os.Getenv("CUTOVER_MODE") != fmt.Sprint(keepAlive) {
			continue
		}
		mode := map[bool]string{true: "keep-alive", false: "fresh connections"}[keepAlive]
		if a.ingress != nil && !keepAlive {
			mode = "fresh TLS connections"
		}
		l := cutoverLoad{mode: via + mode, follow: &follower{}}
		l.wait = a.loadObserved(loadCtx, keepAlive, 10*time.Minute, l.follow.observe)
		loads = append(loads, l)
	}
	// moved waits until every load has moved to color.
	moved := func(color string) {
		for _, l := range loads {
			l.follow.waitMoved(t, color)
		}
	}

	window(5 * time.Second) // the "before" figures
	firstSwitch := time.Now()

	steps := [][]string{
		append([]string{"deploy", "--tag", a.otherVersion(), "--scale-down-delay", "10m"}, fastGates...),
		// Each rollback switches to the colour kept at full size: back to the old version,
		// then to the new one again, and so on.
		append([]string{"rollback"}, fastGates...),
		append([]string{"rollback"}, fastGates...),
		append([]string{"rollback"}, fastGates...),
		append([]string{"rollback"}, fastGates...),
	}
	var switchSteps []time.Duration
	var decisions []time.Time // when each switch step began
	for _, s := range steps {
		code, res, out := a.bluegreen(ctx, s...)
		require.Equal(t, 0, code, "bluegreen %s failed:\n%s", s[0], lastLines(out, 30))
		name, detail, took, started := switchStep(t, res)
		t.Logf("switch step of bluegreen %s: %s: %s, %s from the decision (the gates passed) to the step reading the Service's new selector", s[0], name, detail, took)
		switchSteps = append(switchSteps, took)
		decisions = append(decisions, started)
		if a.ingress != nil {
			// An ingress controller follows the Service's endpoints on its own schedule (Traefik
			// reloads at most every 2 s, later on a busy machine): the next switch waits until the
			// load has moved, so that each switch is measured on its own.
			moved(name[strings.LastIndex(name, " ")+1:])
		}
	}
	slices.Sort(switchSteps)
	t.Logf("switch step (decision -> the whole Helm upgrade done and the new selector read back): median %s, min %s, max %s over %d switches",
		switchSteps[len(switchSteps)/2], switchSteps[0], switchSteps[len(switchSteps)-1], len(switchSteps))

	// The seed's way, for comparison: patch the selector to the idle colour (still at full
	// size) and back, outside Helm.
	active := a.activeColor()
	idle := map[string]string{"blue": "green", "green": "blue"}[active]
	patches := []stack.Switch{{At: time.Now(), Color: idle}}
	// Each patch waits until the load itself has moved: keep-alive connections follow
	// only as the server recycles them.
	a.patchSelector(idle)
	moved(idle)
	patches = append(patches, stack.Switch{At: time.Now(), Color: active})
	a.patchSelector(active)
	moved(active)

	code, _, out := a.bluegreen(ctx, "finalize", "--now")
	require.Equal(t, 0, code, "finalize:\n%s", out)
	desired, _ := deploymentReplicas(t, a, idle)
	assert.Zero(t, desired, "the old colour is scaled down")
	afterFinalize := time.Now()
	window(5 * time.Second) // the "after" figures
	stopLoad()
	results := make([]loadgen.Result, len(loads))
	for i, l := range loads {
		results[i] = l.wait()
	}
	events := watch.Stop()

	// The command's switches are the selector changes seen before the first patch; each
	// is measured until the next switch, the patches from the instant they were sent.
	var switches []stack.Switch
	for _, e := range events {
		if e.At.Before(patches[0].At) {
			switches = append(switches, e)
		}
	}
	require.GreaterOrEqual(t, len(switches), 5, "five cutovers seen on the Service: %v", events)
	// The selector change itself, as the watch delivered it (an upper bound), from the
	// step's start: the Helm upgrade goes on after it (Deployments, HPAs, the release
	// records), which the step's own figure includes.
	var toSelector []time.Duration
	for _, d := range decisions {
		for _, e := range switches {
			if !e.At.Before(d) {
				toSelector = append(toSelector, e.At.Sub(d))
				break
			}
		}
	}
	require.Len(t, toSelector, len(decisions), "a selector change after each switch step began: %v", switches)
	slices.Sort(toSelector)
	t.Logf("decision -> Service selector changed (watch event): median %s, min %s, max %s over %d switches",
		toSelector[len(toSelector)/2].Round(time.Millisecond), toSelector[0].Round(time.Millisecond), toSelector[len(toSelector)-1].Round(time.Millisecond), len(toSelector))
	for i, l := range loads {
		reportLoad(t, l.mode, results[i], began, switches, decisions, patches, firstSwitch, afterFinalize)
	}
}

// reportLoad prints one load's figures around the switches and asserts that every request
// succeeded at the rate asked. Each bluegreen switch is measured until the next switch step
// began (decisions): the watch that sees the selector change runs in this busy test binary,
// and once delivered the next change after the ingress had already moved traffic back; responses
// of the old colour after the next step began may be the next switch's traffic.
func reportLoad(t *testing.T, mode string, res loadgen.Result, began time.Time, switches []stack.Switch, decisions []time.Time, patches []stack.Switch, firstSwitch, afterFinalize time.Time) {
	t.Helper()
	t.Logf("%s: %d requests in %s, %d non-2xx, %d transport errors", mode, res.Total, time.Since(began).Round(time.Second), res.Non2xx, res.TransportErrors)
	var moved []time.Duration // by the bluegreen switches, measured first
	measure := func(how string, list []stack.Switch, next []time.Time, end time.Time) {
		for j, e := range list {
			until := end
			if j+1 < len(list) {
				until = list[j+1].At
			}
			for _, d := range next {
				if d.After(e.At) {
					until = minTime(until, d)
					break
				}
			}
			lat, err := res.SwitchLatencyWithin(e.At, until, "X-App-Color", e.Color)
			if err != nil {
				t.Errorf("%s: switch to %s at %s (%s): responses never all came from %s: %v", mode, e.Color, e.At.Format("15:04:05.000"), how, e.Color, err)
				for _, w := range res.Windows {
					if !w.Start.Before(e.At.Add(-time.Second)) && w.Start.Before(until) {
						t.Logf("  %s: %d requests, colours %v", w.Start.Format("15:04:05"), w.Requests, w.Counts["X-App-Color"])
					}
				}
				continue
			}
			t.Logf("%s: switch to %-5s via %-24s traffic moved in %s", mode, e.Color, how, lat.Round(time.Millisecond))
			moved = append(moved, lat)
		}
	}
	measure("bluegreen (helm upgrade)", switches, decisions, patches[0].At)
	if len(moved) > 0 {
		slices.Sort(moved)
		t.Logf("%s: traffic moved after a bluegreen switch (selector change -> last old-colour response): median %s, min %s, max %s over %d switches",
			mode, moved[len(moved)/2].Round(time.Millisecond), moved[0].Round(time.Millisecond), moved[len(moved)-1].Round(time.Millisecond), len(moved))
	}
	measure("seed: kubectl patch", patches, nil, afterFinalize)
	for _, p := range []struct {
		name     string
		from, to time.Time
	}{
		{"before", res.Start, firstSwitch},
		{"during", firstSwitch, afterFinalize},
		{"after", afterFinalize, res.Start.Add(res.Elapsed)},
	} {
		lat, n := res.LatencyBetween(p.from, p.to)
		t.Logf("%s: latency %-6s p50 %s p99 %s (%d requests)", mode, p.name, lat.P50.Round(100*time.Microsecond), lat.P99.Round(100*time.Microsecond), n)
	}
	assert.Zero(t, res.Non2xx+res.TransportErrors, "requests failed during the cutovers (%s)", mode)
	assert.GreaterOrEqual(t, res.RequestsPerSecond, 180.0, "the load kept its rate (%s)", mode)
}

// switchStep finds the switch step in the command's JSON result: its name, its detail and its
// elapsed time, which runs from the decision (the gates passed) until the step has read the
// Service selecting the new colour.
func switchStep(t *testing.T, res map[string]any) (name, detail string, took time.Duration, started time.Time) {
	t.Helper()
	steps, _ := res["steps"].([]any)
	for _, s := range steps {
		step, _ := s.(map[string]any)
		name, _ = step["name"].(string)
		if !strings.HasPrefix(name, "switch service ") {
			continue
		}
		require.Equal(t, "done", step["outcome"], "the switch step's outcome: %v", step)
		detail, _ = step["detail"].(string)
		elapsed, _ := step["elapsed"].(string)
		took, err := time.ParseDuration(elapsed)
		require.NoError(t, err, "the switch step's elapsed time: %v", step)
		at, _ := step["started"].(string)
		started, err = time.Parse(time.RFC3339Nano, at)
		require.NoError(t, err, "the switch step's start: %v", step)
		return name, detail, took, started
	}
	require.Fail(t, "no switch step in the result", "steps: %v", steps)
	return "", "", 0, time.Time{}
}

// follower follows a load run: how many requests in a row, up to the latest, came from one
// colour.
type follower struct {
	mu   sync.Mutex
	want string
	run  int
}

func (f *follower) observe(s loadgen.Sample) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.OK() && s.Headers["X-App-Color"] == f.want {
		f.run++
	} else {
		f.run = 0
	}
}

// waitMoved waits, bounded, until the load's last 400 requests (two seconds at 200/s, twice
// the server's connection age) all came from color.
func (f *follower) waitMoved(t *testing.T, color string) {
	t.Helper()
	f.mu.Lock()
	f.want, f.run = color, 0
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := waitUntil(ctx, 50*time.Millisecond, func(context.Context) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.run >= 400
	})
	require.NoError(t, err, "the load never settled on %s", color)
}

// waitColor waits, bounded, until ten responses in a row through the main Service come from
// color.
func waitColor(t *testing.T, a *app, color string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	inARow := 0
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		resp, err := client.Get(url(a.port, "/"))
		if err != nil {
			inARow = 0
			return false, nil
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && resp.Header.Get("X-App-Color") == color {
			inARow++
		} else {
			inARow = 0
		}
		return inARow >= 10, nil
	})
	require.NoError(t, err, "traffic never settled on %s", color)
}

// window lets the load run for d to collect the figures of one period of the run. It paces a
// measurement; nothing waits on it for a state change.
func window(d time.Duration) {
	<-time.After(d)
}

// otherVersion is the server version the active colour does not run: what a deploy ships.
func (a *app) otherVersion() string {
	a.t.Helper()
	color := a.activeColor()
	d, err := a.c.Clientset.AppsV1().Deployments(a.ns).Get(context.Background(), release+"-"+color, metav1.GetOptions{})
	require.NoError(a.t, err)
	if strings.HasSuffix(d.Spec.Template.Spec.Containers[0].Image, ":"+stack.Versions[0]) {
		return stack.Versions[1]
	}
	return stack.Versions[0]
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
