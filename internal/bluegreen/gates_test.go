package bluegreen_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/fakecluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/gate"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

func TestGateFailureKeepsTraffic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		setup     func(*fakecluster.Cluster)
		scaleDown bool
		wantCheck string
		wantAlso  string
	}{
		{
			name: "pod /ready answers 503",
			setup: func(c *fakecluster.Cluster) {
				c.Respond = func(p fakecluster.Probe) (int, bool) {
					return 503, p.Kind == "pod" && p.Color == "green" && p.Path == "/ready"
				}
			},
			wantCheck: "GET /ready",
		},
		{
			name: "preview service /health answers 500",
			setup: func(c *fakecluster.Cluster) {
				c.Respond = func(p fakecluster.Probe) (int, bool) {
					return 500, p.Kind == "service" && p.Path == "/health"
				}
			},
			wantCheck: "service/ai-assistant-preview:http GET /health",
		},
		{
			// The timeout alone says nothing: the error carries an unready pod's /ready answer.
			name: "pods never Ready",
			setup: func(c *fakecluster.Cluster) {
				c.NotReady["green"] = true
				c.Respond = func(p fakecluster.Probe) (int, bool) { return 503, p.Color == "green" && p.Path == "/ready" }
			},
			wantCheck: "wait for deployment ai-assistant-green",
			wantAlso:  `GET /ready: 503 {"status":"not_ready"`,
		},
		{
			name: "failing colour is scaled down on request",
			setup: func(c *fakecluster.Cluster) {
				c.Respond = func(p fakecluster.Probe) (int, bool) { return 503, p.Color == "green" && p.Path == "/ready" }
			},
			scaleDown: true,
			wantCheck: "GET /ready",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			tc.setup(f.cl)
			d := f.deploy("2.0.0")
			d.ScaleDownOnFailure = tc.scaleDown
			res, err := d.Run(context.Background())

			require.ErrorIs(t, err, bluegreen.ErrGateFailed)
			assert.Contains(t, err.Error(), tc.wantCheck, "the error names the failed check")
			assert.Contains(t, err.Error(), tc.wantAlso)
			assert.Equal(t, "gate-failed", res.Outcome)
			assert.Equal(t, values.Blue, f.status().Active, "traffic is untouched")
			assert.Equal(t, "blue", f.serviceColor())
			for _, p := range f.cl.Probes() {
				assert.NotEqual(t, "green", p.Active, "the main Service never selected green")
			}
			assert.False(t, f.leaseExists())
			if tc.scaleDown {
				assert.EqualValues(t, 0, f.value("green.replicas"))
				assert.Equal(t, bluegreen.PhaseStable, f.status().Phase)
			} else {
				assert.EqualValues(t, 3, f.value("green.replicas"), "green is kept for inspection")
				assert.Equal(t, bluegreen.PhasePreview, f.status().Phase)
			}
			var ce *gate.CheckError
			if tc.wantCheck != "wait for deployment ai-assistant-green" {
				assert.True(t, errors.As(err, &ce), "a health gate failure carries the check")
			}
		})
	}
}

func TestPostSwitchFailureSwitchesBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(*fakecluster.Cluster)
		want  string
	}{
		{
			name: "new colour fails once it takes traffic",
			setup: func(c *fakecluster.Cluster) {
				c.Respond = func(p fakecluster.Probe) (int, bool) {
					return 503, p.Color == "green" && p.Active == "green" && p.Path == "/ready"
				}
			},
			want: "GET /ready",
		},
		{
			name: "old colour keeps serving users",
			setup: func(c *fakecluster.Cluster) {
				c.UserTraffic["blue"] = func(int) float64 { return 5 }
			},
			want: "request rate",
		},
		{
			// Traffic depends on green while blue drains: its failure is caught then, not after
			// the drain (blue never drains here, so waiting would end on "request rate").
			name: "new colour fails while the old one drains",
			setup: func(c *fakecluster.Cluster) {
				c.UserTraffic["blue"] = func(int) float64 { return 5 }
				c.Respond = func(p fakecluster.Probe) (int, bool) {
					return 503, p.Color == "green" && p.Active == "green" && p.Path == "/ready"
				}
			},
			want: "GET /ready",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			tc.setup(f.cl)
			res, err := f.deploy("2.0.0").Run(context.Background())

			require.ErrorIs(t, err, bluegreen.ErrReverted)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, "reverted", res.Outcome)
			assert.Equal(t, "blue", f.value("activeColor"), "switched back")
			assert.Equal(t, "blue", f.serviceColor())
			assert.Empty(t, f.value("blue.scaleDownAt"), "no scale-down is scheduled for the serving colour")
			assert.Contains(t, f.history()[len(f.history())-1], "bluegreen: switch back green -> blue")
			assert.False(t, f.leaseExists(), "a reverted run is finished")
			sawGreen := false
			for _, p := range f.cl.Probes() {
				sawGreen = sawGreen || p.Active == "green"
			}
			assert.True(t, sawGreen, "the switch did happen before the revert")
		})
	}
}

func TestOldColourDrainsThenSwitchIsKept(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.cl.UserTraffic["blue"] = leaveAfterFourScrapes
	res, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "green", f.value("activeColor"))
	// The switch is kept only once blue's clients left: the drain step read blue's request
	// counters until their rate fell, past the scrapes that still carried traffic.
	assert.Equal(t, "done", stepOutcome(res, "verify: blue's user request rate falls"))
	scrapes := map[string]int{}
	for _, p := range f.cl.Probes() {
		if p.Path == "/metrics" && p.Color == "blue" {
			scrapes[p.Name]++
		}
	}
	require.NotEmpty(t, scrapes, "blue's pods were scraped")
	for pod, n := range scrapes {
		assert.GreaterOrEqual(t, n, 5, "pod %s scraped through its 4 scrapes with traffic and one without", pod)
	}
}

func TestGateWithoutPreviewServiceProbesThePods(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]any{"previewService": map[string]any{"enabled": false}})
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)
	podProbes := 0
	for _, p := range f.cl.Probes() {
		assert.NotEqual(t, "ai-assistant-preview", p.Name)
		if p.Kind == "pod" && p.Color == "green" && p.Active == "blue" {
			podProbes++
		}
	}
	assert.Positive(t, podProbes, "the idle pods were gated before the switch")
	assert.Equal(t, "green", f.serviceColor())
}

func TestPodsAreProbedOnTheChartsContainerPort(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]any{"containerPort": 9000})
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)
	probes := f.cl.Probes()
	require.NotEmpty(t, probes)
	for _, p := range probes {
		want := map[string]string{"pod": "9000", "service": "http"}[p.Kind]
		assert.Equal(t, want, p.Port, "%s %s %s", p.Kind, p.Name, p.Path)
	}
}

// TestThePostSwitchCheckHasAFailureBudget: one failed round after the switch (an API-proxy
// hiccup) is tolerated with --failure-limit 2, and the cutover stands; a colour that keeps
// failing is switched back on its third failed round in a row; with no budget, one failure
// switches back.
func TestThePostSwitchCheckHasAFailureBudget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		limit    int
		failures int32 // failed /ready answers from green once it serves; -1: all of them
		reverted bool
		want     string
	}{
		{"a hiccup is tolerated", 2, 1, false, ""},
		{"two hiccups in a row are tolerated", 2, 2, false, ""},
		{"a colour that keeps failing is switched back", 2, -1, true, "3 failed rounds in a row; --failure-limit tolerates 2"},
		{"no budget: one failure switches back", 0, 1, true, "1 failed rounds in a row; --failure-limit tolerates 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			var failed atomic.Int32
			f.cl.Respond = func(p fakecluster.Probe) (int, bool) {
				if p.Active != "green" || p.Color != "green" || p.Path != "/ready" {
					return 0, false
				}
				if tc.failures >= 0 && failed.Load() >= tc.failures {
					return 0, false
				}
				failed.Add(1)
				return 503, true
			}
			d := f.deploy("2.0.0")
			d.Gates.FailureLimit = tc.limit
			d.Gates.VerifyFor = 300 * time.Millisecond // rounds enough to recover within
			_, err := d.Run(context.Background())
			if !tc.reverted {
				require.NoError(t, err)
				assert.Equal(t, "green", f.serviceColor())
				assert.Equal(t, tc.failures, failed.Load(), "the failures happened and were tolerated")
				return
			}
			require.ErrorIs(t, err, bluegreen.ErrReverted)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, "blue", f.serviceColor())
		})
	}
}

// TestTheDrainWorksWithMetricsOff: with PROMETHEUS_ENABLED=false the old colour serves no
// /metrics; the drain reads its users' requests from /health instead, says so, waits for
// them to leave, and the cutover stands.
func TestTheDrainWorksWithMetricsOff(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	logged := f.captureLog()
	f.cl.NoMetrics["blue"] = true
	f.cl.UserTraffic["blue"] = leaveAfterFourScrapes
	res, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "green", f.serviceColor())
	assert.Equal(t, "done", stepOutcome(res, "verify: blue's user request rate falls"))
	assert.Contains(t, logged(), "user requests read from /health (user_requests_total): the pods serve no /metrics")
	healthReads := 0
	for _, p := range f.cl.Probes() {
		if p.Path == "/health" && p.Color == "blue" {
			healthReads++
		}
	}
	assert.GreaterOrEqual(t, healthReads, 5, "blue's /health was read through its traffic and after")
}

// leaveAfterFourScrapes is keep-alive clients that stay on the old colour for four scrapes
// of its counters after the switch, then leave.
func leaveAfterFourScrapes(scrape int) float64 {
	if scrape < 4 {
		return 2
	}
	return 0
}

// TestANewColourThatFailsBeforeItsEndpointsSettleIsSwitchedBackAtOnce: the kubelet takes green's
// pods out of the endpoints as soon as they fail (a fast readiness probe), so the endpoints never
// become green's. The endpoints check sees no green pod Ready and switches back at once, not after the drain
// timeout.
func TestANewColourThatFailsBeforeItsEndpointsSettleIsSwitchedBackAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.cl.Respond = func(p fakecluster.Probe) (int, bool) {
		return 503, p.Active == "green" && p.Color == "green" && p.Path == "/ready"
	}
	var reconcileErr error
	f.cfg.Log = func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		t.Log(line)
		if strings.HasPrefix(line, "==> verify: service ai-assistant endpoints") {
			f.cl.NotReady["green"] = true // the kubelet's probe failed: out of the endpoints
			reconcileErr = f.cl.Reconcile()
		}
	}
	d := f.deploy("2.0.0")
	d.Gates.DrainTimeout = time.Minute
	began := time.Now()
	_, err := d.Run(context.Background())
	require.NoError(t, reconcileErr)
	require.ErrorIs(t, err, bluegreen.ErrReverted)
	assert.Less(t, time.Since(began), 30*time.Second, "switched back at once, not after the 1m drain timeout")
	assert.Equal(t, "blue", f.serviceColor())
}

// TestItWarnsWhenTheKubeletWouldOutrunTheSwitchBack: a readiness probe that takes a failing
// pod out of the endpoints sooner than the post-switch check can switch back leaves the
// Service with no ready endpoint in between; the command says so, naming the probe and the
// values to change. A probe that leaves the check time enough gets no warning.
func TestItWarnsWhenTheKubeletWouldOutrunTheSwitchBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		probe map[string]any // readinessProbe values over the chart's
		warn  string
	}{
		{"the chart's probe leaves time enough", nil, ""},
		{"a second's grace is enough for these gates", map[string]any{"periodSeconds": 1, "failureThreshold": 2}, ""},
		{"one failure takes the pod out at once", map[string]any{"periodSeconds": 1, "failureThreshold": 1},
			"green's readiness probe (every 1s, failureThreshold 1) can take a failing pod out of the endpoints 0s after it starts failing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var vals map[string]any
			if tc.probe != nil {
				vals = map[string]any{"readinessProbe": tc.probe}
			}
			f := newFixture(t, vals)
			res, err := f.deploy("2.0.0").Run(context.Background())
			require.NoError(t, err)
			if tc.warn == "" {
				assert.Empty(t, res.Warnings)
				return
			}
			require.Len(t, res.Warnings, 1)
			assert.Contains(t, res.Warnings[0], tc.warn)
			assert.Contains(t, res.Warnings[0], "raise green.readinessProbe.failureThreshold or periodSeconds, or lower --failure-limit or --gate-interval")
		})
	}
}
