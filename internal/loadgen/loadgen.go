// Package loadgen sends a bounded stream of HTTP requests and reports what came back: totals,
// failures, latency percentiles overall and per time window, counts per value of chosen
// response headers (X-App-Version, X-App-Color), and the full timeline, from which a caller
// computes a blue-green "switch latency". It always stops by itself: at Duration or after
// MaxRequests, whichever comes first.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultHeaders are the response headers recorded when Options.Headers is empty.
var DefaultHeaders = []string{"X-App-Version", "X-App-Color"}

// Options configure a run.
type Options struct {
	URL    string
	Method string // default GET
	// Rate is the target requests per second (open loop: sends are scheduled on a clock).
	// 0 means closed loop: Concurrency workers send back to back, to measure throughput.
	Rate float64
	// Duration bounds the run (required).
	Duration time.Duration
	// MaxRequests is a hard cap on requests sent (required).
	MaxRequests int
	// Concurrency bounds requests in flight (default 64).
	Concurrency int
	// KeepAlive reuses connections; false opens a fresh connection per request.
	KeepAlive bool
	// Timeout bounds each request (default 5s).
	Timeout time.Duration
	// Headers are the response headers whose values are counted and kept in the timeline.
	Headers []string
	// Window is the width of the per-window statistics (default 1s).
	Window time.Duration
	// Client replaces the built-in client (KeepAlive is then ignored).
	Client *http.Client
	// Progress, if set, is called every Window while the run goes on, with the time elapsed
	// and the number of requests completed so far.
	Progress func(elapsed time.Duration, completed int)
	// OnSample, if set, is called with every completed request, from the goroutine that sent
	// it, so a caller can follow the run as it goes (say, wait until traffic has moved).
	OnSample func(Sample)
}

// Sample is one request in the timeline.
type Sample struct {
	Start   time.Time         `json:"start"`
	Latency time.Duration     `json:"latency"`
	Code    int               `json:"code"` // 0 on a transport error
	Err     string            `json:"err,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// OK reports a 2xx response.
func (s Sample) OK() bool { return s.Err == "" && s.Code/100 == 2 }

// Percentiles summarise latencies.
type Percentiles struct {
	P50 time.Duration `json:"p50"`
	P90 time.Duration `json:"p90"`
	P99 time.Duration `json:"p99"`
	Max time.Duration `json:"max"`
}

// Window is the statistics of requests started within [Start, Start+width).
type Window struct {
	Start    time.Time   `json:"start"`
	Requests int         `json:"requests"`
	Non2xx   int         `json:"non_2xx"`
	Errors   int         `json:"errors"`
	Latency  Percentiles `json:"latency"`
	// Counts per header value, as in Result.Counts.
	Counts map[string]map[string]int `json:"counts"`
}

// Result is a run's outcome.
type Result struct {
	Start             time.Time                 `json:"start"`
	Elapsed           time.Duration             `json:"elapsed"`
	Total             int                       `json:"total"`
	Non2xx            int                       `json:"non_2xx"`
	TransportErrors   int                       `json:"transport_errors"`
	RequestsPerSecond float64                   `json:"requests_per_second"`
	Latency           Percentiles               `json:"latency"`
	Counts            map[string]map[string]int `json:"counts"`
	Windows           []Window                  `json:"windows"`
	// Samples is the timeline, ordered by start time.
	Samples []Sample `json:"-"`
}

// ErrNotSwitched is returned by SwitchLatency when the last response still was not the new value.
var ErrNotSwitched = errors.New("responses never settled on the wanted value")

// SwitchLatency measures how long after since it took until every later response carried
// header=want: the start of the first request of the final all-matching run, minus since.
// Failed requests count as not matching. 0 means every request sent after since matched.
func (r Result) SwitchLatency(since time.Time, header, want string) (time.Duration, error) {
	return r.SwitchLatencyWithin(since, time.Time{}, header, want)
}

// SwitchLatencyWithin is SwitchLatency over the requests sent and answered before until (the
// zero time: no bound), for a run in which traffic switches several times: each switch is
// measured up to the next one. A request sent before until but answered after it is left out:
// it may have been routed after the next switch (a fresh TLS connection on a busy machine took
// seconds to set up, and then read as the old colour long after the switch it measured).
func (r Result) SwitchLatencyWithin(since, until time.Time, header, want string) (time.Duration, error) {
	after := r.since(since)
	if !until.IsZero() {
		n := sort.Search(len(after), func(i int) bool { return !after[i].Start.Before(until) })
		after = slices.DeleteFunc(slices.Clone(after[:n]), func(s Sample) bool { return s.Start.Add(s.Latency).After(until) })
	}
	if len(after) == 0 {
		return 0, fmt.Errorf("no request was sent after %s", since.Format(time.RFC3339Nano))
	}
	lastBad := -1
	for i, s := range after {
		if !s.OK() || s.Headers[header] != want {
			lastBad = i
		}
	}
	switch {
	case lastBad == -1:
		return 0, nil
	case lastBad == len(after)-1:
		return 0, fmt.Errorf("%s=%q after %d requests: %w", header, want, len(after), ErrNotSwitched)
	default:
		return after[lastBad+1].Start.Sub(since), nil
	}
}

// FailedSince counts requests sent at or after since that failed (non-2xx or transport error).
func (r Result) FailedSince(since time.Time) int {
	n := 0
	for _, s := range r.since(since) {
		if !s.OK() {
			n++
		}
	}
	return n
}

func (r Result) since(t time.Time) []Sample {
	i := sort.Search(len(r.Samples), func(i int) bool { return !r.Samples[i].Start.Before(t) })
	return r.Samples[i:]
}

// Run sends requests as configured until Duration passes, MaxRequests are sent or ctx ends,
// waits for the requests in flight, and returns the result.
func Run(ctx context.Context, o Options) (Result, error) {
	if err := o.defaults(); err != nil {
		return Result{}, err
	}
	client := o.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DisableKeepAlives = !o.KeepAlive
		tr.MaxIdleConnsPerHost = o.Concurrency
		client = &http.Client{Transport: tr}
		defer tr.CloseIdleConnections()
	}
	req, err := http.NewRequest(o.Method, o.URL, nil)
	if err != nil {
		return Result{}, fmt.Errorf("build request for %s: %w", o.URL, err)
	}

	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	g := &gen{o: o, client: client, req: req, samples: make([]Sample, 0, min(o.MaxRequests, 1<<16))}
	start := time.Now()
	stopProgress := g.progress(start)
	if o.Rate > 0 {
		g.openLoop(ctx, start)
	} else {
		g.closedLoop(ctx)
	}
	g.wg.Wait()
	stopProgress()
	return summarise(start, time.Since(start), g.samples, o), nil
}

func (o *Options) defaults() error {
	if o.URL == "" {
		return errors.New("loadgen: URL is required")
	}
	if o.Duration <= 0 || o.MaxRequests <= 0 {
		return errors.New("loadgen: Duration and MaxRequests must both be positive so the run is bounded")
	}
	if o.Rate < 0 {
		return fmt.Errorf("loadgen: negative rate %v", o.Rate)
	}
	if o.Method == "" {
		o.Method = http.MethodGet
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if len(o.Headers) == 0 {
		o.Headers = DefaultHeaders
	}
	if o.Window <= 0 {
		o.Window = time.Second
	}
	return nil
}

type gen struct {
	o      Options
	client *http.Client
	req    *http.Request
	wg     sync.WaitGroup

	mu      sync.Mutex
	sent    int
	samples []Sample
}

// progress reports completed requests every Window until the returned func is called.
func (g *gen) progress(start time.Time) func() {
	if g.o.Progress == nil {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(g.o.Window)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				g.mu.Lock()
				n := len(g.samples)
				g.mu.Unlock()
				g.o.Progress(time.Since(start), n)
			}
		}
	}()
	return func() { close(stop); <-done }
}

// take reserves one request against MaxRequests.
func (g *gen) take() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sent >= g.o.MaxRequests {
		return false
	}
	g.sent++
	return true
}

// openLoop schedules request i at start + i/Rate, and none at or after ctx's deadline; a full
// semaphore delays sends (and so shows up as lower throughput, not hidden latency).
func (g *gen) openLoop(ctx context.Context, start time.Time) {
	interval := time.Duration(float64(time.Second) / g.o.Rate)
	sem := make(chan struct{}, g.o.Concurrency)
	timer := time.NewTimer(0)
	defer timer.Stop()
	deadline, bounded := ctx.Deadline()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		// A starved loop wakes late with its sends overdue and ctx's deadline passed but not yet
		// signalled, and select picks among ready cases at random: without this bound it sent
		// 209 requests in a 1 s run at 200/s.
		if bounded && !due.Before(deadline) {
			return
		}
		timer.Reset(time.Until(due))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		select {
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		if !g.take() {
			<-sem
			return
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer func() { <-sem }()
			g.one()
		}()
	}
}

func (g *gen) closedLoop(ctx context.Context) {
	for range g.o.Concurrency {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for ctx.Err() == nil && g.take() {
				g.one()
			}
		}()
	}
}

// one sends a request (not tied to the run's deadline, so requests in flight at the end
// complete under their own timeout) and records it.
func (g *gen) one() {
	ctx, cancel := context.WithTimeout(context.Background(), g.o.Timeout)
	defer cancel()
	s := Sample{Start: time.Now()}
	resp, err := g.client.Do(g.req.Clone(ctx))
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		s.Code = resp.StatusCode
		s.Headers = make(map[string]string, len(g.o.Headers))
		for _, h := range g.o.Headers {
			if v := resp.Header.Get(h); v != "" {
				s.Headers[h] = v
			}
		}
	}
	s.Latency = time.Since(s.Start)
	if err != nil {
		s.Err = err.Error()
	}
	g.mu.Lock()
	g.samples = append(g.samples, s)
	g.mu.Unlock()
	if g.o.OnSample != nil {
		g.o.OnSample(s)
	}
}

func summarise(start time.Time, elapsed time.Duration, samples []Sample, o Options) Result {
	sort.Slice(samples, func(i, j int) bool { return samples[i].Start.Before(samples[j].Start) })
	r := Result{Start: start, Elapsed: elapsed, Total: len(samples), Samples: samples}
	r.Counts, r.Non2xx, r.TransportErrors, r.Latency = stats(samples, o.Headers)
	if elapsed > 0 {
		r.RequestsPerSecond = float64(len(samples)) / elapsed.Seconds()
	}
	for i := 0; i < len(samples); {
		wStart := start.Add(samples[i].Start.Sub(start) / o.Window * o.Window)
		j := i
		for j < len(samples) && samples[j].Start.Before(wStart.Add(o.Window)) {
			j++
		}
		w := Window{Start: wStart, Requests: j - i}
		w.Counts, w.Non2xx, w.Errors, w.Latency = stats(samples[i:j], o.Headers)
		r.Windows = append(r.Windows, w)
		i = j
	}
	return r
}

func stats(samples []Sample, headers []string) (counts map[string]map[string]int, non2xx, errs int, p Percentiles) {
	counts = map[string]map[string]int{}
	for _, h := range headers {
		counts[h] = map[string]int{}
	}
	lat := make([]time.Duration, 0, len(samples))
	for _, s := range samples {
		switch {
		case s.Err != "":
			errs++
			continue
		case s.Code/100 != 2:
			non2xx++
		}
		lat = append(lat, s.Latency)
		for _, h := range headers {
			if v, ok := s.Headers[h]; ok {
				counts[h][v]++
			}
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return counts, non2xx, errs, Percentiles{P50: rank(lat, 50), P90: rank(lat, 90), P99: rank(lat, 99), Max: rank(lat, 100)}
}

// rank is the nearest-rank percentile of sorted durations.
func rank(sorted []time.Duration, pct int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (pct*len(sorted) + 99) / 100
	if i < 1 {
		i = 1
	}
	return sorted[i-1]
}

// LatencyBetween summarises the latency of the requests started in [from, to), e.g. before,
// during and after a cutover, and says how many there were. Transport errors have no latency
// and are left out, as in Result.Latency.
func (r Result) LatencyBetween(from, to time.Time) (Percentiles, int) {
	var in []Sample
	for _, s := range r.Samples {
		if !s.Start.Before(from) && s.Start.Before(to) {
			in = append(in, s)
		}
	}
	_, _, _, p := stats(in, nil)
	return p, len(in)
}

// FailureGroup is the failed requests of one kind: a status code, or the last part of a
// transport error (the part before it names this run's own connection, which varies).
type FailureGroup struct {
	Reason      string
	Count       int
	First, Last time.Time // start times of the first and last such request
}

// Failures groups the failed requests by reason, in the order each reason first appeared,
// so a report says what failed and when, not only how many.
func (r Result) Failures() []FailureGroup {
	var groups []FailureGroup
	at := map[string]int{}
	for _, s := range r.Samples {
		if s.OK() {
			continue
		}
		reason := fmt.Sprintf("status %d", s.Code)
		if s.Err != "" {
			reason = s.Err[strings.LastIndex(s.Err, ": ")+1:]
			reason = strings.TrimSpace(reason)
		}
		i, ok := at[reason]
		if !ok {
			i = len(groups)
			at[reason] = i
			groups = append(groups, FailureGroup{Reason: reason, First: s.Start})
		}
		groups[i].Count++
		groups[i].Last = s.Start
	}
	return groups
}

// Summary writes a short human-readable report.
func (r Result) Summary(w io.Writer) {
	fmt.Fprintf(w, "requests %d in %s: %.1f req/s, non-2xx %d, transport errors %d\n",
		r.Total, r.Elapsed.Round(time.Millisecond), r.RequestsPerSecond, r.Non2xx, r.TransportErrors)
	us := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
	fmt.Fprintf(w, "latency p50 %s p90 %s p99 %s max %s\n", us(r.Latency.P50), us(r.Latency.P90), us(r.Latency.P99), us(r.Latency.Max))
	hs := make([]string, 0, len(r.Counts))
	for h := range r.Counts {
		hs = append(hs, h)
	}
	sort.Strings(hs)
	for _, h := range hs {
		if len(r.Counts[h]) > 0 {
			fmt.Fprintf(w, "%s: %v\n", h, r.Counts[h])
		}
	}
	for _, g := range r.Failures() {
		fmt.Fprintf(w, "failed: %d x %s, sent %s to %s\n", g.Count, g.Reason,
			g.First.UTC().Format("15:04:05.000"), g.Last.UTC().Format("15:04:05.000"))
	}
}
