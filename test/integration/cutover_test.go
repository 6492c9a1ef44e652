//go:build integration

package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stack"
)

// patchSelector is the seed's way: a kubectl patch of the Service selector.
func (a *app) patchSelector(color string) {
	a.t.Helper()
	patch := fmt.Sprintf(`{"spec":{"selector":{"color":%q}}}`, color)
	_, err := a.c.Clientset.CoreV1().Services(a.ns).Patch(context.Background(), release, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	require.NoError(a.t, err)
}

// TestCutoverUnderLoad: 200 requests/s on loopback through the main Service for the whole
// run while the cutover command switches v1 -> v2, rolls back, promotes, rolls back and
// promotes again (five switches), then scales the old colour down; once with keep-alive
// connections and once with a fresh connection per request. Every request must succeed.
// It prints the switch latency of each switch (from the selector change until every later
// response carries the new colour), the seed's selector patch for comparison, and p50/p99
// before, during and after.
func TestCutoverUnderLoad(t *testing.T) {
	a := newApp(t, nil)
	versions := []string{stack.Versions[1], stack.Versions[0]}
	for i, keepAlive := range []bool{true, false} {
		mode := map[bool]string{true: "keep-alive", false: "fresh connections"}[keepAlive]
		t.Run(strings.ReplaceAll(mode, " ", "-"), func(t *testing.T) {
			a.t = t
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			loadCtx, stopLoad := context.WithCancel(ctx)
			defer stopLoad()
			watch := stack.WatchSelector(a.c.Clientset, a.ns, release)
			began := time.Now()
			wait := load(loadCtx, t, keepAlive, 10*time.Minute)

			window(5 * time.Second) // the "before" figures
			firstSwitch := time.Now()

			steps := [][]string{
				append([]string{"deploy", "--tag", versions[i], "--scale-down-delay", "10m"}, fastGates...),
				append([]string{"rollback"}, fastGates...),
				append([]string{"promote"}, fastGates...),
				append([]string{"rollback"}, fastGates...),
				append([]string{"promote"}, fastGates...),
			}
			for _, s := range steps {
				code, _, out := a.bluegreen(ctx, s...)
				require.Equal(t, 0, code, "bluegreen %s failed:\n%s", s[0], lastLines(out, 30))
			}

			// The seed's way, for comparison: patch the selector to the idle colour (still at full
			// size) and back, outside Helm.
			active := a.activeColor()
			idle := map[string]string{"blue": "green", "green": "blue"}[active]
			a.patchSelector(idle)
			waitColor(t, a, idle)
			a.patchSelector(active)
			waitColor(t, a, active)

			code, _, out := a.bluegreen(ctx, "finalize", "--now")
			require.Equal(t, 0, code, "finalize:\n%s", out)
			desired, _ := deploymentReplicas(t, a, idle)
			assert.Zero(t, desired, "the old colour is scaled down")
			afterFinalize := time.Now()
			window(5 * time.Second) // the "after" figures
			stopLoad()
			res := wait()
			events := watch.Stop()

			t.Logf("%s: %d requests in %s, %d non-2xx, %d transport errors", mode, res.Total, time.Since(began).Round(time.Second), res.Non2xx, res.TransportErrors)
			require.GreaterOrEqual(t, len(events), 7, "five cutovers and two patches seen on the Service")
			for j, e := range events {
				how := "bluegreen (helm upgrade)"
				if j >= len(events)-2 {
					how = "seed: kubectl patch"
				}
				lat, err := res.SwitchLatency(e.At, "X-App-Color", e.Color)
				if err != nil {
					t.Errorf("switch to %s at %s (%s): responses never all came from %s: %v", e.Color, e.At.Format("15:04:05.000"), how, e.Color, err)
					continue
				}
				t.Logf("switch to %-5s via %-24s traffic moved in %s", e.Color, how, lat.Round(time.Millisecond))
			}
			for _, p := range []struct {
				name     string
				from, to time.Time
			}{
				{"before", res.Start, firstSwitch},
				{"during", firstSwitch, afterFinalize},
				{"after", afterFinalize, res.Start.Add(res.Elapsed)},
			} {
				lat, n := res.LatencyBetween(p.from, p.to)
				t.Logf("latency %-6s p50 %s p99 %s (%d requests)", p.name, lat.P50.Round(100*time.Microsecond), lat.P99.Round(100*time.Microsecond), n)
			}
			assert.Zero(t, res.Non2xx+res.TransportErrors, "requests failed during the cutovers (%s)", mode)
			assert.GreaterOrEqual(t, res.RequestsPerSecond, 180.0, "the load kept its rate")
		})
	}
}

// waitColor waits, bounded, until ten responses in a row through the main Service come from
// color.
func waitColor(t *testing.T, a *app, color string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	inARow := 0
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		resp, err := client.Get(url(stack.ActiveNodePort, "/"))
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
