// Package readiness answers "can this pod take traffic now?" by checking every configured
// dependency concurrently, each under its own timeout, and caching the answer for a short TTL
// so that probes and load do not hammer the dependencies. It never latches: a check that fails
// after succeeding turns the answer to not ready at the next refresh, and back when it recovers.
package readiness

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Check is one dependency probe. Check returns nil when the dependency is usable.
type Check interface {
	Name() string
	Check(ctx context.Context) error
}

// Status values reported per check.
const (
	StatusOK      = "ok"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// CheckResult is one dependency's outcome in a Report.
type CheckResult struct {
	Status   string `json:"status"`
	Error    string `json:"error,omitempty"`
	Duration string `json:"duration,omitempty"`
}

// Report is the answer served by /ready.
type Report struct {
	Ready    bool                   `json:"-"`
	Draining bool                   `json:"-"`
	Status   string                 `json:"status"`
	Reason   string                 `json:"reason,omitempty"`
	Checks   map[string]CheckResult `json:"checks"`
	Checked  time.Time              `json:"checked_at"`
}

// Observer is told each check's outcome after every refresh (the metrics gauges use it).
type Observer func(name string, up bool)

// Checker runs the checks and caches their report.
type Checker struct {
	checks   []Check
	skipped  []string
	ttl      time.Duration
	timeout  time.Duration
	observe  Observer
	now      func() time.Time
	draining atomic.Bool

	mu       sync.Mutex
	cached   *Report
	inflight chan struct{} // closed when the running refresh finishes; nil when none runs
}

// Option configures a Checker.
type Option func(*Checker)

// WithTTL sets how long a report is reused (0 = check on every call).
func WithTTL(d time.Duration) Option { return func(c *Checker) { c.ttl = d } }

// WithTimeout bounds each check.
func WithTimeout(d time.Duration) Option { return func(c *Checker) { c.timeout = d } }

// WithSkipped names dependencies that are not configured, reported as skipped.
func WithSkipped(names ...string) Option {
	return func(c *Checker) { c.skipped = append(c.skipped, names...) }
}

// WithObserver registers a callback for each check's outcome.
func WithObserver(o Observer) Option { return func(c *Checker) { c.observe = o } }

// New returns a Checker; defaults: TTL 1s, timeout 2s (the server's documented defaults).
func New(checks []Check, opts ...Option) *Checker {
	c := &Checker{
		checks:  checks,
		ttl:     time.Second,
		timeout: 2 * time.Second,
		observe: func(string, bool) {},
		now:     time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// SetDraining marks the process as shutting down: every later report is not ready, at once,
// whatever the dependencies say.
func (c *Checker) SetDraining() { c.draining.Store(true) }

// Draining reports whether SetDraining was called.
func (c *Checker) Draining() bool { return c.draining.Load() }

// Report returns the cached report if it is younger than the TTL, otherwise refreshes it.
// Concurrent callers share one refresh. ctx only bounds how long this caller waits: the refresh
// itself runs under its own timeout so one impatient prober cannot fail it for the others.
func (c *Checker) Report(ctx context.Context) Report {
	if c.draining.Load() {
		// Shutting down: answer at once without touching the dependencies.
		c.mu.Lock()
		r := Report{Checks: map[string]CheckResult{}, Checked: c.now()}
		if c.cached != nil {
			r = *c.cached
		}
		c.mu.Unlock()
		return c.withDrain(r)
	}
	for {
		c.mu.Lock()
		if c.cached != nil && c.now().Sub(c.cached.Checked) < c.ttl {
			r := c.withDrain(*c.cached)
			c.mu.Unlock()
			return r
		}
		wait := c.inflight
		if wait == nil {
			done := make(chan struct{})
			c.inflight = done
			c.mu.Unlock()
			r := c.refresh()
			c.mu.Lock()
			c.cached = &r
			c.inflight = nil
			close(done)
			c.mu.Unlock()
			return c.withDrain(r)
		}
		c.mu.Unlock()
		select {
		case <-wait:
			// Take the refresh we waited for even if a slow check made it older than the TTL:
			// starting another would make waiters queue forever behind slow dependencies.
			c.mu.Lock()
			if c.cached != nil {
				r := c.withDrain(*c.cached)
				c.mu.Unlock()
				return r
			}
			c.mu.Unlock()
		case <-ctx.Done():
			return c.withDrain(Report{
				Status: "not_ready", Reason: "readiness check cancelled: " + ctx.Err().Error(),
				Checks: map[string]CheckResult{}, Checked: c.now(),
			})
		}
	}
}

func (c *Checker) withDrain(r Report) Report {
	if c.draining.Load() {
		r.Ready, r.Draining, r.Status, r.Reason = false, true, "not_ready", "shutting down"
	}
	return r
}

// refresh runs every check concurrently, each under the per-check timeout.
func (c *Checker) refresh() Report {
	results := make([]CheckResult, len(c.checks))
	var wg sync.WaitGroup
	for i, chk := range c.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
			defer cancel()
			start := c.now()
			err := chk.Check(ctx)
			res := CheckResult{Status: StatusOK, Duration: c.now().Sub(start).Round(time.Microsecond).String()}
			if err != nil {
				res.Status, res.Error = StatusFailed, err.Error()
			}
			results[i] = res
		}()
	}
	wg.Wait()

	r := Report{Ready: true, Status: "ready", Checks: map[string]CheckResult{}, Checked: c.now()}
	for i, chk := range c.checks {
		r.Checks[chk.Name()] = results[i]
		up := results[i].Status == StatusOK
		c.observe(chk.Name(), up)
		if !up {
			r.Ready, r.Status = false, "not_ready"
		}
	}
	for _, name := range c.skipped {
		r.Checks[name] = CheckResult{Status: StatusSkipped}
	}
	return r
}
