package bluegreen_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	helmrelease "helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/fakecluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/leasetest"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/release"
)

const (
	testRelease = "ai-assistant"
	testNS      = "prod"
	repo        = "ai-assistant"
)

// chartDir is the chart the release is installed from, found from this file.
func chartDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "charts", "ai-assistant")
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
		t.Fatalf("the chart must be at %s: %v", dir, err)
	}
	return dir
}

type fixture struct {
	t   *testing.T
	cl  *fakecluster.Cluster
	cfg *bluegreen.Configuration

	clk *testingclock.FakeClock
}

// newFixture installs the chart with vals (over a fixed repository and version)
// into a simulated cluster whose node holds versions 1.0.0 and 2.0.0.
func newFixture(t *testing.T, vals map[string]any) *fixture {
	t.Helper()
	cl := fakecluster.New(testNS)
	require.NoError(t, cl.LoadImage("docker.io/library/ai-assistant:1.0.0"))
	require.NoError(t, cl.LoadImage("docker.io/library/ai-assistant:2.0.0", "docker.io/library/ai-assistant@sha256:"+strings.Repeat("a", 64)))
	base := map[string]any{"image": map[string]any{"repository": repo, "tag": "1.0.0"}}
	for k, v := range vals {
		base[k] = v
	}
	require.NoError(t, cl.Install(testRelease, chartDir(t), base))
	f := &fixture{t: t, cl: cl, clk: testingclock.NewFakeClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))}
	store := release.NewHelmStore(cl.Helm, testRelease, testNS)
	cfg := bluegreen.NewConfiguration(store, cl.Kube, cl, testRelease, testNS)
	cfg.PollInterval = 5 * time.Millisecond
	// A passing test never waits this out (the fake cluster shows a change as the in-process
	// upgrade returns), but that upgrade took over 5 s with the unit suites starved beside the
	// integration suite; the one test of the timeout sets its own.
	cfg.ConvergeTimeout = 30 * time.Second
	cfg.Holder = "test@host pid 1"
	// A dead holder's lease is taken over after this. The elector renews on the real clock: at
	// 2 s (a renew deadline of 1.3 s) a run starved beside the integration suite lost its lease
	// during a 3 s upgrade in CI.
	cfg.LeaseDuration = 10 * time.Second
	cfg.Clock = f.clk
	cfg.Log = func(format string, args ...any) { t.Logf(format, args...) }
	f.cfg = cfg
	return f
}

func (f *fixture) clock() time.Time { return f.clk.Now() }

// captureLog records the command's progress lines (from every goroutine it logs from) and
// returns a function that reads them so far, joined by newlines.
func (f *fixture) captureLog() func() string {
	var (
		mu   sync.Mutex
		logs []string
	)
	f.cfg.Log = func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		logs = append(logs, fmt.Sprintf(format, args...))
	}
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(logs, "\n")
	}
}

// advance moves the fake clock on, firing the timers it passes.
func (f *fixture) advance(d time.Duration) { f.clk.Step(d) }

// fast shrinks every gate to test scale.
func fast(c *bluegreen.Cutover) {
	c.Gates = bluegreen.Gates{
		RolloutTimeout: time.Second,
		Passes:         2,
		Interval:       5 * time.Millisecond,
		GateTimeout:    2 * time.Second, // headroom on a loaded machine; failing gates wait it out
		DrainTimeout:   2 * time.Second,
		MaxOldRate:     0,
		VerifyFor:      30 * time.Millisecond,
	}
}

func (f *fixture) deploy(tag string) *bluegreen.Deploy {
	d := bluegreen.NewDeploy(f.cfg)
	d.Tag = tag
	fast(&d.Cutover)
	return d
}

// rollback is a rollback with the test-scale gates.
func (f *fixture) rollback() *bluegreen.Rollback {
	rb := bluegreen.NewRollback(f.cfg)
	fast(&rb.Cutover)
	return rb
}

// rel returns the release's latest revision.
func (f *fixture) rel() *helmrelease.Release {
	f.t.Helper()
	r, err := f.cl.Helm.Releases.Last(testRelease)
	require.NoError(f.t, err)
	return r
}

// value reads a user-supplied value by dotted path.
func (f *fixture) value(path string) any {
	var cur any = f.rel().Config
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func (f *fixture) status() *bluegreen.Status {
	f.t.Helper()
	s, err := bluegreen.NewStatus(f.cfg).Run(context.Background())
	require.NoError(f.t, err)
	return s
}

// serviceColor is the colour the main Service selects in the cluster.
func (f *fixture) serviceColor() string {
	f.t.Helper()
	s, err := f.cl.Kube.CoreV1().Services(testNS).Get(context.Background(), testRelease, metav1.GetOptions{})
	require.NoError(f.t, err)
	return s.Spec.Selector["color"]
}

func (f *fixture) history() []string {
	f.t.Helper()
	h, err := f.cl.Helm.Releases.History(testRelease)
	require.NoError(f.t, err)
	sort.Slice(h, func(i, j int) bool { return h[i].Version < h[j].Version })
	var out []string
	for _, r := range h {
		out = append(out, r.Info.Description)
	}
	return out
}

// holdLease makes holder a live run on the lease: it renews it every 100 ms, with its own
// clock, until the test ends.
func (f *fixture) holdLease(holder, operation string) {
	f.t.Helper()
	leasetest.Hold(f.t, f.cl.Kube.CoordinationV1().Leases(testNS), "bluegreen-"+testRelease, holder, operation)
}

func (f *fixture) leaseExists() bool {
	_, err := f.cl.Kube.CoordinationV1().Leases(testNS).Get(context.Background(), "bluegreen-"+testRelease, metav1.GetOptions{})
	return err == nil
}
