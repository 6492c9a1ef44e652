package gate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Header names the app sets on every response.
const (
	HeaderColor   = "X-App-Color"
	HeaderVersion = "X-App-Version"
)

// CheckError names the check that failed and what it saw.
type CheckError struct {
	Check  string // e.g. "pod/x:8000 GET /ready"
	Detail string
	// Answered is set when the target answered, wrongly (a status or a colour): a real
	// failure even when the round was being stopped, unlike a request the stop cut off.
	Answered bool
}

func (e *CheckError) Error() string { return e.Check + ": " + e.Detail }

// Health passes once every probe of every target answers 2xx, Passes rounds in a row.
type Health struct {
	Prober    Prober
	Namespace string
	Paths     []string // probed on every target, e.g. /ready and /health
	Smoke     []string // probed on Service targets only
	Passes    int
	Interval  time.Duration
	// FailureLimit is how many failed rounds in a row the post-switch soak tolerates.
	FailureLimit int
	// Streak, when set, carries the failed rounds in a row from one Soak to the next: the
	// watch during the old colour's drain and the post-switch check are one watch in two steps.
	Streak *int
	// Targets, when set, lists the targets afresh before each round, so a pod an autoscaler
	// added or a rollout replaced is probed and a deleted one is not; the targets given to
	// Check or Soak are then only the first round's.
	Targets func(ctx context.Context) ([]Target, error)
	Log     Logf
}

// Check runs rounds until Passes consecutive ones pass or ctx ends. A target whose
// answers carry X-App-Color must answer with wantColor (when set), so a preview
// Service that still selects the wrong colour fails the gate.
func (h Health) Check(ctx context.Context, wantColor string, targets []Target) error {
	passes := 0
	var last *CheckError
	round := 0
	err := Poll(ctx, h.Interval, func(ctx context.Context) (bool, string, error) {
		round++
		rctx, cancel := withoutDeadline(ctx)
		cerr := h.round(rctx, wantColor, targets)
		interrupted := rctx.Err() != nil
		cancel()
		if cerr != nil {
			passes = 0
			if last != nil && (interrupted || ctx.Err() != nil) {
				// Interrupted, or a probe outlasted the gate's time: the failure worth reporting
				// is the last one from a round that ran whole before it.
				return false, last.Error(), nil
			}
			if last == nil || last.Check != cerr.Check {
				h.Log("  gate: %s (round %d, restarting the count)", cerr, round)
			}
			last = cerr
			return false, cerr.Error(), nil
		}
		passes++
		h.Log("  gate: pass %d/%d over %d targets", passes, h.Passes, len(targets))
		return passes >= h.Passes, fmt.Sprintf("%d consecutive passes", h.Passes), nil
	})
	if err != nil {
		if last != nil && IsTimeout(err) {
			return fmt.Errorf("%w (no %d consecutive passes in %d rounds)", last, h.Passes, round)
		}
		return err
	}
	return nil
}

// withoutDeadline is ctx without its deadline: it ends when ctx is cancelled, but not when
// ctx's time runs out. A round of probes started before a gate's or a soak's deadline runs
// to its end under it (each probe has its own timeout), so the round is judged on what the
// colour answered. A round may outlast the deadline by its probes' own timeouts, at most. Cut short, it would fail on whichever request it was making, and not
// only once the deadline has passed: client-go's rate limiter refuses at once a request
// whose wait would outlast the deadline ("rate: Wait(n=1) would exceed context deadline").
func withoutDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	out, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		if !IsTimeout(ctx.Err()) {
			cancel(context.Cause(ctx))
		}
	})
	return out, func() { stop(); cancel(nil) }
}

func (h Health) round(ctx context.Context, wantColor string, targets []Target) *CheckError {
	if h.Targets != nil {
		live, err := h.Targets(ctx)
		if err != nil {
			return &CheckError{Check: "list the targets", Detail: err.Error()}
		}
		targets = live
	}
	for _, t := range targets {
		paths := h.Paths
		if t.Kind == "service" {
			paths = append(append([]string{}, h.Paths...), h.Smoke...)
		}
		for _, path := range paths {
			if err := h.probe(ctx, t, path, wantColor); err != nil {
				if t.Kind == "pod" && h.gone(ctx, t) {
					break // deleted since the round listed it: its replacement is probed next round
				}
				return err
			}
		}
	}
	return nil
}

// gone reports whether a pod that failed a probe is no longer among the live targets. Without
// a live list, or when it cannot be read, the failure stands.
func (h Health) gone(ctx context.Context, t Target) bool {
	if h.Targets == nil {
		return false
	}
	live, err := h.Targets(ctx)
	if err != nil {
		return false
	}
	return !slices.Contains(live, t)
}

func (h Health) probe(ctx context.Context, t Target, path, wantColor string) *CheckError {
	check := fmt.Sprintf("%s GET %s", t, path)
	resp, err := t.Get(ctx, h.Prober, h.Namespace, path)
	if err != nil {
		return &CheckError{Check: check, Detail: err.Error()}
	}
	if resp.Status < 200 || resp.Status > 299 {
		return &CheckError{Check: check, Detail: fmt.Sprintf("status %d: %s", resp.Status, snippet(resp.Body)), Answered: true}
	}
	if got := resp.Header.Get(HeaderColor); wantColor != "" && got != "" && got != wantColor {
		return &CheckError{Check: check, Detail: fmt.Sprintf("answered by colour %s, want %s", got, wantColor), Answered: true}
	}
	return nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
