package loadgen

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// colourServer answers with X-App-Color set to whatever colour is current, counting the
// client connections it sees.
type colourServer struct {
	colour atomic.Value
	conns  atomic.Int64
	fail   atomic.Bool
	*httptest.Server
}

func newColourServer(t *testing.T) *colourServer {
	t.Helper()
	cs := &colourServer{}
	cs.colour.Store("blue")
	cs.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-App-Color", cs.colour.Load().(string))
		w.Header().Set("X-App-Version", "v1")
		if cs.fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	cs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			cs.conns.Add(1)
		}
	}
	cs.Start()
	t.Cleanup(cs.Close)
	return cs
}

func TestOpenLoopRateAndBounds(t *testing.T) {
	t.Parallel()
	cs := newColourServer(t)
	start := time.Now()
	r, err := Run(context.Background(), Options{URL: cs.URL, Rate: 200, Duration: time.Second, MaxRequests: 1000, KeepAlive: true})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("1s run took %s", took)
	}
	// 200 req/s for 1s: at most the 200 scheduled. Fewer when the machine starves the loop
	// (116 in CI, the unit suites at a low CPU weight beside the integration suite): a rate
	// off by a factor still shows far below this bound.
	if r.Total < 50 || r.Total > 200 {
		t.Errorf("total = %d, want up to 200 and never more", r.Total)
	}
	if r.Non2xx != 0 || r.TransportErrors != 0 {
		t.Errorf("failures: %+v", r)
	}
	if r.Counts["X-App-Color"]["blue"] != r.Total || r.Counts["X-App-Version"]["v1"] != r.Total {
		t.Errorf("counts = %v, want every response blue/v1", r.Counts)
	}
	if r.Latency.P50 <= 0 || r.Latency.P50 > r.Latency.P90 || r.Latency.P90 > r.Latency.P99 || r.Latency.P99 > r.Latency.Max {
		t.Errorf("percentiles not ordered: %+v", r.Latency)
	}
	if len(r.Windows) < 1 || len(r.Windows) > 2 {
		t.Errorf("windows = %d, want 1-2 one-second windows", len(r.Windows))
	}
	// Reused, not one per request. The open loop keeps sending while responses are slow, and
	// each request that finds no idle connection dials one: 7 were seen on a busy machine, 64
	// with the unit suites starved beside the integration suite (make test), still far from
	// the one per request of fresh connections.
	if n := cs.conns.Load(); n > int64(r.Total/2) {
		t.Errorf("keep-alive run opened %d connections for %d requests, want at most one per two", n, r.Total)
	}
}

func TestMaxRequestsCapAndFreshConnections(t *testing.T) {
	t.Parallel()
	cs := newColourServer(t)
	r, err := Run(context.Background(), Options{URL: cs.URL, Duration: 10 * time.Second, MaxRequests: 50, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != 50 {
		t.Errorf("total = %d, want the cap of 50", r.Total)
	}
	if r.Elapsed > 5*time.Second {
		t.Errorf("run did not stop at the request cap: %s", r.Elapsed)
	}
	if n := cs.conns.Load(); n != 50 {
		t.Errorf("without keep-alive the server saw %d connections, want 50", n)
	}
}

// TestOnSampleSeesEveryRequest: the hook sees each request as it completes, with the counted
// headers, while the run goes on; a caller can stop the run from what it sees.
func TestOnSampleSeesEveryRequest(t *testing.T) {
	t.Parallel()
	cs := newColourServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen, green atomic.Int64
	r, err := Run(ctx, Options{URL: cs.URL, Rate: 200, Duration: 10 * time.Second, MaxRequests: 2000, KeepAlive: true, Headers: DefaultHeaders,
		OnSample: func(s Sample) {
			if seen.Add(1) == 20 {
				cs.colour.Store("green")
			}
			if s.Headers["X-App-Color"] == "green" && green.Add(1) == 20 {
				cancel() // the run stops once the hook has seen the switch
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Elapsed > 5*time.Second {
		t.Errorf("the run went on for %s after the hook cancelled it", r.Elapsed)
	}
	if int64(r.Total) != seen.Load() || int64(r.Counts["X-App-Color"]["green"]) != green.Load() {
		t.Errorf("hook saw %d requests (%d green), the result has %d (%v)", seen.Load(), green.Load(), r.Total, r.Counts)
	}
}

func TestFailuresCounted(t *testing.T) {
	t.Parallel()
	cs := newColourServer(t)
	cs.fail.Store(true)
	r, err := Run(context.Background(), Options{URL: cs.URL, Duration: 5 * time.Second, MaxRequests: 10, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Non2xx != 10 || r.FailedSince(r.Start) != 10 {
		t.Errorf("non2xx = %d failed = %d, want 10", r.Non2xx, r.FailedSince(r.Start))
	}
	if g := r.Failures(); len(g) != 1 || g[0].Reason != "status 503" || g[0].Count != 10 || g[0].Last.Before(g[0].First) {
		t.Errorf("failures = %+v, want one group of 10 x status 503", g)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	r, err = Run(context.Background(), Options{URL: url, Duration: 5 * time.Second, MaxRequests: 5, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.TransportErrors != 5 {
		t.Errorf("transport errors = %d, want 5 against a closed port", r.TransportErrors)
	}
	if g := r.Failures(); len(g) != 1 || g[0].Reason != "connection refused" || g[0].Count != 5 {
		t.Errorf("failures = %+v, want one group of 5 refused connections, named without the port", g)
	}
}

func TestSwitchLatencyDuringARun(t *testing.T) {
	t.Parallel()
	cs := newColourServer(t)
	var switchedAt time.Time
	var once sync.Once
	r, err := Run(context.Background(), Options{
		URL: cs.URL, Rate: 100, Duration: 1500 * time.Millisecond, MaxRequests: 1000, KeepAlive: true,
		Window: 500 * time.Millisecond,
		Progress: func(elapsed time.Duration, done int) {
			once.Do(func() { switchedAt = time.Now(); cs.colour.Store("green") })
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if switchedAt.IsZero() {
		t.Fatal("progress callback never ran")
	}
	lat, err := r.SwitchLatency(switchedAt, "X-App-Color", "green")
	if err != nil {
		t.Fatalf("switch latency: %v", err)
	}
	if lat > 100*time.Millisecond {
		t.Errorf("switch latency %s for an instant in-process switch", lat)
	}
	if r.Counts["X-App-Color"]["blue"] == 0 || r.Counts["X-App-Color"]["green"] == 0 {
		t.Errorf("counts %v: want both colours", r.Counts)
	}
	if _, err := r.SwitchLatency(switchedAt, "X-App-Color", "purple"); !errors.Is(err, ErrNotSwitched) {
		t.Errorf("never-seen value: err = %v, want ErrNotSwitched", err)
	}
}

func TestSwitchLatencyFromTimeline(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := func(ms int, colour string, code int) Sample {
		return Sample{Start: t0.Add(time.Duration(ms) * time.Millisecond), Code: code, Headers: map[string]string{"X-App-Color": colour}}
	}
	r := Result{Samples: []Sample{
		s(0, "blue", 200), s(100, "blue", 200), s(200, "green", 200), s(300, "blue", 200), // a straggler
		s(400, "green", 200), s(500, "green", 502), s(600, "green", 200), s(700, "green", 200),
	}}
	lat, err := r.SwitchLatency(t0.Add(150*time.Millisecond), "X-App-Color", "green")
	if err != nil || lat != 450*time.Millisecond {
		t.Errorf("switch latency = %s, %v; want 450ms (the 502 at 500ms counts as not switched)", lat, err)
	}
	if lat, err := r.SwitchLatency(t0.Add(550*time.Millisecond), "X-App-Color", "green"); err != nil || lat != 0 {
		t.Errorf("all green after 550ms: %s, %v; want 0", lat, err)
	}
	if _, err := r.SwitchLatency(t0.Add(time.Second), "X-App-Color", "green"); err == nil {
		t.Errorf("no samples after the instant: want an error")
	}
	// Bounded by a later switch back to blue at 650ms, the switch at 150ms settled at 600ms.
	r.Samples = append(r.Samples, s(800, "blue", 200), s(900, "blue", 200))
	if _, err := r.SwitchLatency(t0.Add(150*time.Millisecond), "X-App-Color", "green"); err == nil {
		t.Errorf("unbounded: a later switch back to blue must read as not switched")
	}
	if lat, err := r.SwitchLatencyWithin(t0.Add(150*time.Millisecond), t0.Add(650*time.Millisecond), "X-App-Color", "green"); err != nil || lat != 450*time.Millisecond {
		t.Errorf("within [150ms, 650ms) = %s, %v; want 450ms", lat, err)
	}
	// A request sent at 640ms and answered at 660ms, after the switch back at 650ms, by blue:
	// routed after that switch, it says nothing of the one before.
	late := s(640, "blue", 200)
	late.Latency = 20 * time.Millisecond
	r.Samples = slices.Insert(r.Samples, 7, late)
	if lat, err := r.SwitchLatencyWithin(t0.Add(150*time.Millisecond), t0.Add(650*time.Millisecond), "X-App-Color", "green"); err != nil || lat != 450*time.Millisecond {
		t.Errorf("within [150ms, 650ms), a late answer from after 650ms: %s, %v; want 450ms", lat, err)
	}
	if n := r.FailedSince(t0.Add(450 * time.Millisecond)); n != 1 {
		t.Errorf("failed since 450ms = %d, want 1", n)
	}
}

func TestLatencyBetween(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int, lat time.Duration) Sample {
		return Sample{Start: t0.Add(time.Duration(ms) * time.Millisecond), Code: 200, Latency: lat}
	}
	r := Result{Samples: []Sample{at(0, time.Millisecond), at(100, 2*time.Millisecond), at(200, 50*time.Millisecond), at(300, 3*time.Millisecond)}}
	p, n := r.LatencyBetween(t0.Add(100*time.Millisecond), t0.Add(300*time.Millisecond))
	if n != 2 || p.P50 != 2*time.Millisecond || p.Max != 50*time.Millisecond {
		t.Errorf("between 100ms and 300ms: %d requests, %+v; want 2 requests, p50 2ms, max 50ms (the end is excluded)", n, p)
	}
	if _, n := r.LatencyBetween(t0.Add(time.Second), t0.Add(2*time.Second)); n != 0 {
		t.Errorf("an empty window counted %d requests", n)
	}
}

func TestOptionsMustBeBounded(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{{URL: "http://127.0.0.1:1", MaxRequests: 1}, {URL: "http://127.0.0.1:1", Duration: time.Second}, {Duration: time.Second, MaxRequests: 1}} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v) accepted unbounded or incomplete options", o)
		}
	}
}
