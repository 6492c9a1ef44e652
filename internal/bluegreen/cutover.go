package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/gate"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/lease"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/observe"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/release"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/snapshot"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// servicePort is the name of the chart's Service port; pods are probed on the
// chart's containerPort (8000 by default).
const servicePort = "http"

func podPort(st *observe.State) string { return strconv.Itoa(st.Snapshot.Values.ContainerPort) }

// Cutover holds the options every traffic-moving operation shares.
type Cutover struct {
	Gates Gates
	// ScaleDownDelay is how long the old colour stays at full size for a rollback.
	ScaleDownDelay time.Duration
	// Wait blocks until the scale-down deadline and finalizes, instead of returning.
	Wait bool
	// ScaleDownOnFailure scales the idle colour to zero when a gate fails, instead of
	// keeping it for inspection.
	ScaleDownOnFailure bool
	// InFlightTimeout bounds the wait, before a colour is scaled to zero, for the user requests
	// its pods still serve (chat streams) to end; 0 does not wait.
	InFlightTimeout time.Duration
}

func defaultCutover() Cutover {
	return Cutover{
		Gates:           DefaultGates(),
		ScaleDownDelay:  10 * time.Minute, // the seed's sleep 600, without the blocking
		InFlightTimeout: 5 * time.Minute,  // the seed's proxy-read-timeout: 300 s, the longest stream
	}
}

// run is one operation holding the lock.
type run struct {
	c      *Configuration
	res    *Result
	lock   *lease.Lease
	prev   lease.Progress // what an interrupted run left on the lock
	record lease.Progress // what this run has recorded
	opts   Cutover
	// switchTook is how long this run's switch took: a switch back takes about as long.
	switchTook time.Duration
}

// newResult is the result of one operation on the configured release.
func (c *Configuration) newResult(operation string) *Result {
	return &Result{Operation: operation, Release: c.Release, Namespace: c.Namespace}
}

// operate is the frame every operation shares: read the release and take its lock (begin),
// run body with the cutover options, then release the lock and record the outcome (end).
func (c *Configuration) operate(ctx context.Context, res *Result, opts Cutover, body func(ctx context.Context, r *run, st *observe.State) error) (*Result, error) {
	r, st, runCtx, err := c.begin(ctx, res, res.Operation)
	if err != nil {
		c.finish(ctx, res, err)
		return res, err
	}
	r.opts = opts
	if st, err = r.finishVerified(runCtx, st); err != nil {
		return res, r.end(runCtx, err)
	}
	return res, r.end(runCtx, body(runCtx, r, st))
}

// begin checks the release can be worked on, takes the lock and reads the state. The run goes
// on under the context it returns, which ends if the lock is lost.
func (c *Configuration) begin(ctx context.Context, res *Result, operation string) (*run, *observe.State, context.Context, error) {
	var st *observe.State
	err := c.step(ctx, res, "read release and cluster", func() (string, bool, error) {
		var err error
		if st, err = c.load(ctx); err != nil {
			return "", false, err
		}
		if st.Snapshot.Pending() {
			return "", false, fmt.Errorf("%w: release %s is %s: another Helm operation is running, or one was killed (then `helm rollback %s` recovers it)",
				ErrLocked, c.Release, st.Snapshot.Status, c.Release)
		}
		return fmt.Sprintf("%s active, revision %d", st.Active, st.Snapshot.Revision), false, nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	r := &run{c: c, res: res}
	runCtx := ctx
	err = c.step(ctx, res, "take lock", func() (string, bool, error) {
		l, lctx, prev, err := lease.Acquire(ctx, c.Kube, c.Namespace, c.Release, c.Holder, operation, c.LeaseDuration, c.Log)
		if err != nil {
			return "", false, err
		}
		r.lock, r.prev, r.record, runCtx = l, prev, prev, lctx
		// Read again under the lock: a run that just finished may have changed it.
		if st, err = c.load(ctx); err != nil {
			_ = l.Release(prev.Step == "")
			return "", false, err
		}
		if prev.Step != "" {
			return fmt.Sprintf("lease %s, resuming %s left at step %q (%s -> %s)", l.Name(), prev.Operation, prev.Step, prev.From, prev.To), false, nil
		}
		return "lease " + l.Name(), false, nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return r, st, runCtx, nil
}

// end releases the lock and fills the result with the outcome and the state left. A run
// stopped because it lost the lock says so, not that it was interrupted.
func (r *run) end(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrLocked) && (err == nil || errors.Is(err, context.Canceled)) {
		err = cause
	}
	// A switch not verified, or verified without the old colour's deadline, stays recorded
	// for the next run; anything else is done.
	finished := r.record.Step == ""
	if lerr := r.lock.Release(finished); lerr != nil {
		r.c.Log("warning: release lock: %v", lerr)
	}
	r.c.finish(ctx, r.res, err)
	return err
}

// finish sets a result's outcome and the state left behind.
func (c *Configuration) finish(ctx context.Context, res *Result, err error) {
	if res.Outcome == "" || err != nil {
		res.Outcome = outcomeOf(err)
	}
	if err != nil {
		res.Error = err.Error()
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if st, lerr := c.load(sctx); lerr == nil {
		if s, serr := c.status(sctx, st); serr == nil {
			res.Status, res.Next = s, s.Next
		}
	}
	if errors.Is(err, context.Canceled) {
		res.Next = append([]string{fmt.Sprintf("interrupted: run `bluegreen %s` again to continue from the state above", res.Operation)}, res.Next...)
	}
}

func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "done"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, ErrBadInput):
		return "bad-input"
	case errors.Is(err, ErrLocked):
		return "locked"
	case errors.Is(err, ErrGateFailed):
		return "gate-failed"
	case errors.Is(err, ErrReverted):
		return "reverted"
	case errors.Is(err, ErrRevertFailed):
		return "revert-failed"
	}
	return "failed"
}

// unverified reports whether an interrupted run switched to the active colour and
// did not finish verifying it.
func (r *run) unverified(st *observe.State) bool {
	return phase(st, r.prev, r.c.Clock.Now()) == PhaseUnverified
}

// cutover moves traffic to colour `to` once it has parity and passes the gates,
// verifies the switch (switching back on failure) and schedules the old colour's
// scale-down. extra is set on `to` with the scale-up (a new image for deploy).
func (r *run) cutover(ctx context.Context, st *observe.State, to values.Color, extra values.Change) error {
	from := st.Active
	var err error
	if st, err = r.scaleUp(ctx, st, to, extra); err != nil {
		return err
	}
	pods, err := r.waitReady(ctx, st, to)
	if err != nil {
		return r.gateFailed(ctx, st, to, err)
	}
	if err := r.gate(ctx, st, to, pods); err != nil {
		return r.gateFailed(ctx, st, to, err)
	}
	if st, err = r.switchTo(ctx, st, from, to); err != nil {
		return err
	}
	return r.afterSwitch(ctx, st, from, to)
}

// afterSwitch verifies a switch and schedules the old colour's scale-down; it is
// also where an interrupted run resumes.
func (r *run) afterSwitch(ctx context.Context, st *observe.State, from, to values.Color) error {
	if err := r.verify(ctx, st, from, to); err != nil {
		return err
	}
	var err error
	if st, err = r.scheduleScaleDown(ctx, st, from); err != nil {
		return err
	}
	if r.opts.Wait {
		return r.waitAndFinalize(ctx, st)
	}
	return nil
}

// scaleUp sets colour `to` to the active colour's current size (and extra).
func (r *run) scaleUp(ctx context.Context, st *observe.State, to values.Color, extra values.Change) (*observe.State, error) {
	n := parity(st)
	change := values.Change{string(to) + ".replicas": n, string(to) + ".scaleDownAt": ""}
	for k, v := range extra {
		change[k] = v
	}
	name := fmt.Sprintf("scale %s to %d replicas (parity with %s: %d running)", to, n, st.Active, st.Colors[st.Active].Current)
	err := r.c.step(ctx, r.res, name, func() (string, bool, error) {
		if change.Satisfied(st.Snapshot.User) && st.Converged() == "" {
			return "values already set", true, nil
		}
		next, err := r.c.apply(ctx, st, change, fmt.Sprintf("bluegreen: prepare %s (%s)", to, change))
		if err != nil {
			return "", false, err
		}
		st = next
		return fmt.Sprintf("%s now asks for %s", to, st.Colors[to].Image), false, nil
	})
	return st, err
}

// waitReady waits for every pod of `to` to be Ready and its Deployment available.
func (r *run) waitReady(ctx context.Context, st *observe.State, to values.Color) ([]corev1.Pod, error) {
	var pods []corev1.Pod
	cs := st.Colors[to]
	want := int32(parity(st))
	if v := st.Snapshot.Values.Colors[to].Replicas; v != nil {
		want = int32(*v)
	}
	err := r.c.step(ctx, r.res, fmt.Sprintf("wait for %s: %d pods Ready and available", cs.Deployment, want), func() (string, bool, error) {
		wctx, cancel := context.WithTimeout(ctx, r.opts.Gates.RolloutTimeout)
		defer cancel()
		w := gate.Rollout{Kube: r.c.Kube, Namespace: st.Namespace, Interval: r.c.PollInterval, Log: r.c.Log}
		var err error
		pods, err = w.Wait(wctx, cs.Deployment, want, cs.Image)
		if err != nil && ctx.Err() == nil {
			// Name the failing check, not just the timeout: ask an unready pod's /ready.
			dctx, dcancel := context.WithTimeout(ctx, 15*time.Second)
			defer dcancel()
			if why := w.Unready(dctx, cs.Deployment, r.c.Prober, podPort(st), "/ready"); why != "" {
				err = fmt.Errorf("%w; %s", err, why)
			}
		}
		return fmt.Sprintf("%d pods ready", len(pods)), false, err
	})
	return pods, err
}

// gate requires /ready and /health on each pod of `to` and through the preview Service.
func (r *run) gate(ctx context.Context, st *observe.State, to values.Color, pods []corev1.Pod) error {
	var targets []gate.Target
	for _, p := range pods {
		targets = append(targets, gate.Target{Kind: "pod", Name: p.Name, Port: podPort(st)})
	}
	through := "no preview service (previewService.enabled is false)"
	if st.Preview.Exists {
		targets = append(targets, gate.Target{Kind: "service", Name: st.Preview.Name, Port: servicePort})
		through = "service " + st.Preview.Name
	}
	g := r.opts.Gates
	name := fmt.Sprintf("gate: /ready and /health on %d pods and %s, %d passes in a row", len(pods), through, g.Passes)
	h := r.health(st)
	preview := ""
	if st.Preview.Exists {
		preview = st.Preview.Name
	}
	h.Targets = r.colourTargets(st, to, preview) // a pod a rollout replaces during the gate is not probed once gone
	return r.c.step(ctx, r.res, name, func() (string, bool, error) {
		gctx, cancel := context.WithTimeout(ctx, g.GateTimeout)
		defer cancel()
		err := h.Check(gctx, string(to), targets)
		return "", false, err
	})
}

func (r *run) health(st *observe.State) gate.Health {
	g := r.opts.Gates
	return gate.Health{Prober: r.c.Prober, Namespace: st.Namespace, Paths: []string{"/ready", "/health"}, Smoke: g.Smoke, Passes: g.Passes, Interval: g.Interval, FailureLimit: g.FailureLimit, Log: r.c.Log}
}

// gateFailed leaves traffic where it is and, if asked, scales `to` down.
func (r *run) gateFailed(ctx context.Context, st *observe.State, to values.Color, cause error) error {
	if errors.Is(cause, context.Canceled) {
		return cause
	}
	kept := fmt.Sprintf("%s kept running for inspection (`bluegreen abort %s` scales it down)", to, r.c.Release)
	if r.opts.ScaleDownOnFailure {
		err := r.c.step(ctx, r.res, fmt.Sprintf("scale %s to zero after the failed gate", to), func() (string, bool, error) {
			_, err := r.c.apply(ctx, st, values.Change{string(to) + ".replicas": 0}, fmt.Sprintf("bluegreen: gate failed, %s scaled down", to))
			return "", false, err
		})
		if err != nil {
			return fmt.Errorf("%w: %w; then scaling %s down failed: %w", ErrGateFailed, cause, to, err)
		}
		kept = to.String() + " scaled to zero"
	}
	return fmt.Errorf("%w (service stays on %s; %s): %w", ErrGateFailed, st.Active, kept, cause)
}

// switchTo points the Service at `to` and pins `from` at its current size, so it
// stays ready for a rollback while its autoscaler sees no traffic.
func (r *run) switchTo(ctx context.Context, st *observe.State, from, to values.Color) (*observe.State, error) {
	pin := st.Colors[from].Current
	change := func(s *release.Snapshot) values.Change {
		ch := rebase(s, to)
		ch["activeColor"] = string(to)
		if pin > 0 {
			ch[string(from)+".replicas"] = int(pin)
		}
		return ch
	}
	err := r.c.step(ctx, r.res, fmt.Sprintf("switch service %s from %s to %s", st.Service.Name, from, to), func() (string, bool, error) {
		decided := r.c.Clock.Now()
		r.record = lease.Progress{Operation: r.res.Operation, From: from, To: to, Step: StepSwitched}
		if err := r.lock.Record(ctx, r.record); err != nil {
			return "", false, fmt.Errorf("record the switch on the lock: %w", err)
		}
		began := r.c.Clock.Now()
		next, err := r.c.applyBuilt(ctx, st, change, fmt.Sprintf("bluegreen: switch %s -> %s", from, to))
		if err != nil {
			return "", false, err
		}
		r.switchTook = r.c.Clock.Since(began)
		st = next
		// The switch's own latency, for users and the tests: from the decision (the gates passed)
		// until the service was read selecting the new colour, the Helm upgrade within it.
		how := "helm upgrade and read back"
		if _, gitops := r.c.Store.(*release.GitOpsStore); gitops {
			how = "values written, synced and read back"
		}
		return fmt.Sprintf("service %s selects %s, %s after the decision (%s: %s)", st.Service.Name, st.Service.Color,
			r.c.Clock.Since(decided).Round(time.Millisecond), how, r.switchTook.Round(time.Millisecond)), false, nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return st, r.switchFailed(ctx, st, from, to, err)
	}
	return st, err
}

// switchFailed reads where traffic is after the switch's upgrade failed: an upgrade can
// patch the Service and then fail on another object. Traffic that moved is switched back, as
// after a failed verification; traffic that stayed is said to have stayed.
func (r *run) switchFailed(ctx context.Context, st *observe.State, from, to values.Color, cause error) error {
	ctx = context.WithoutCancel(ctx) // what happened must be read even when interrupted
	live, err := r.c.load(ctx)
	if err != nil {
		return fmt.Errorf("%w; then reading where traffic is failed too: %w", cause, err)
	}
	if live.Service.Color == string(to) {
		r.c.Log("the switch's upgrade failed, but service %s already selects %s", live.Service.Name, to)
		return r.revert(ctx, live, from, to, fmt.Errorf("the switch's upgrade failed after service %s moved to %s: %w", live.Service.Name, to, cause))
	}
	r.record = lease.Progress{} // nothing moved: there is no switch to resume
	return fmt.Errorf("service %s stays on %s: %w", live.Service.Name, live.Service.Color, cause)
}

// verify checks traffic really moved to `to` and stays healthy; on failure it
// switches back to `from` and says so.
func (r *run) verify(ctx context.Context, st *observe.State, from, to values.Color) error {
	g := r.opts.Gates
	newPods, oldPods := st.Colors[to].LivePods, st.Colors[from].LivePods
	if w := switchBackBudget(to, newPods, g, r.switchTook); w != "" {
		r.c.Log("warning: %s", w)
		r.res.Warnings = append(r.res.Warnings, w)
	}
	check := func(name string, fn func(context.Context) error) error {
		return r.c.step(ctx, r.res, name, func() (string, bool, error) { return "", false, fn(ctx) })
	}
	err := check(fmt.Sprintf("verify: service %s endpoints are the Ready %s pods, and only those", st.Service.Name, to), func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, g.DrainTimeout)
		defer cancel()
		return gate.Endpoints(ctx, r.c.Kube, st.Namespace, st.Service.Name, st.Colors[to].Deployment, r.colourPods(st, to), r.c.PollInterval)
	})
	targets := []gate.Target{{Kind: "service", Name: st.Service.Name, Port: servicePort}}
	for _, p := range newPods {
		targets = append(targets, gate.Target{Kind: "pod", Name: p.Name, Port: podPort(st)})
	}
	soak := r.health(st)
	soak.Targets = r.colourTargets(st, to, st.Service.Name)
	soak.Streak = new(int) // one watch over the drain and the post-switch check
	if err == nil && g.MaxOldRate >= 0 && len(oldPods) > 0 {
		err = check(fmt.Sprintf("verify: %s's user request rate falls to <= %.2f/s (while %s stays healthy)", from, g.MaxOldRate, to), func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, g.DrainTimeout)
			defer cancel()
			t := gate.Traffic{Prober: r.c.Prober, Namespace: st.Namespace, Port: podPort(st), Interval: g.Interval, MaxRate: g.MaxOldRate, Log: r.c.Log}
			return r.whileHealthy(ctx, soak, to, targets, func(ctx context.Context) error { return t.Drained(ctx, r.colourPods(st, from)) })
		})
	}
	if err == nil {
		err = check(fmt.Sprintf("verify: %s keeps passing through service %s for %s", to, st.Service.Name, g.VerifyFor), func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, g.VerifyFor)
			defer cancel()
			return soak.Soak(ctx, string(to), targets)
		})
	}
	if err == nil {
		r.record = lease.Progress{Operation: r.res.Operation, From: from, To: to, Step: StepVerified}
		if err := r.lock.Record(context.WithoutCancel(ctx), r.record); err != nil {
			return fmt.Errorf("record the verified switch on the lock: %w", err)
		}
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err // interrupted, not failed: the next run verifies again
	}
	return r.revert(ctx, st, from, to, err)
}

// whileHealthy runs fn while it watches colour `to` through targets, as the soak does. Traffic
// already depends on `to` while the old colour drains: if `to` fails first, fn is stopped and
// the failure returned at once, not after the drain.
func (r *run) whileHealthy(ctx context.Context, soak gate.Health, to values.Color, targets []gate.Target, fn func(context.Context) error) error {
	fnCtx, stopFn := context.WithCancel(ctx)
	defer stopFn()
	watchCtx, stopWatch := context.WithCancel(ctx)
	var failed error
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		if err := soak.Soak(watchCtx, string(to), targets); err != nil && !errors.Is(err, context.Canceled) {
			failed = err // a failure seen as the watch was being stopped still counts
			stopFn()
		}
	}()
	err := fn(fnCtx)
	stopWatch()
	<-watched
	if failed != nil {
		return failed
	}
	return err
}

// revert switches traffic back after a failed verification.
func (r *run) revert(ctx context.Context, st *observe.State, from, to values.Color, cause error) error {
	failed := r.c.Clock.Now()
	r.c.Log("verification of %s failed: %v", to, cause)
	r.c.Log("switching traffic back to %s", from)
	// Switching back must happen even when the run is being interrupted.
	ctx = context.WithoutCancel(ctx)
	err := r.c.step(ctx, r.res, fmt.Sprintf("switch back: service %s to %s", st.Service.Name, from), func() (string, bool, error) {
		next, err := r.c.applyBuilt(ctx, st, switchBack(from), fmt.Sprintf("bluegreen: switch back %s -> %s: %v", to, from, cause))
		if err != nil {
			return "", false, err
		}
		ectx, cancel := context.WithTimeout(ctx, r.opts.Gates.DrainTimeout)
		defer cancel()
		if err := gate.Endpoints(ectx, r.c.Kube, next.Namespace, next.Service.Name, next.Colors[from].Deployment, r.colourPods(next, from), r.c.PollInterval); err != nil {
			return "", false, err
		}
		// From the failure to the old colour's pods being the Service's endpoints again: for
		// GitOps the commit, the push, the tool's sync and the endpoints controller.
		return fmt.Sprintf("endpoints back %s after the failure: service %s selects %s again", r.c.Clock.Since(failed).Round(time.Millisecond), next.Service.Name, from), false, nil
	})
	if err != nil {
		return fmt.Errorf("%w: %w; switching back to %s: %w", ErrRevertFailed, cause, from, err)
	}
	r.record = lease.Progress{}
	return fmt.Errorf("%w to %s (%s left running for inspection): %w", ErrReverted, from, to, cause)
}

// scheduleScaleDown records the old colour's deadline in the values and returns.
func (r *run) scheduleScaleDown(ctx context.Context, st *observe.State, from values.Color) (*observe.State, error) {
	at := r.c.Clock.Now().Add(r.opts.ScaleDownDelay).UTC().Truncate(time.Second)
	err := r.c.step(ctx, r.res, fmt.Sprintf("record %s's scale-down deadline", from), func() (string, bool, error) {
		next, err := r.c.apply(ctx, st, values.Change{string(from) + ".scaleDownAt": at.Format(time.RFC3339)},
			fmt.Sprintf("bluegreen: %s verified; %s kept for rollback until %s", st.Active, from, at.Format(time.RFC3339)))
		if err != nil {
			return "", false, err
		}
		st = next
		r.record = lease.Progress{}
		return fmt.Sprintf("%s scales to zero at %s (`bluegreen finalize`)", from, at.Format(time.RFC3339)), false, nil
	})
	return st, err
}

// finishVerified records the old colour's deadline for a switch that an interrupted run
// verified and left there, before the operation at hand goes on from the state it leaves.
func (r *run) finishVerified(ctx context.Context, st *observe.State) (*observe.State, error) {
	switch phase(st, r.prev, r.c.Clock.Now()) {
	case PhaseVerified:
		r.c.Log("%s -> %s was verified by an interrupted %s; recording %s's scale-down deadline first", r.prev.From, r.prev.To, r.prev.OperationName(), st.Idle)
		return r.scheduleScaleDown(ctx, st, st.Idle)
	case PhaseUnverified:
		return st, nil // the operation verifies it, or refuses
	}
	r.record = lease.Progress{} // the values have moved past what was recorded
	return st, nil
}

// waitAndFinalize counts down to the deadline, then scales the old colour down.
func (r *run) waitAndFinalize(ctx context.Context, st *observe.State) error {
	at := st.Snapshot.Values.Colors[st.Idle].ScaleDownAt
	if at == nil {
		return nil
	}
	err := r.c.step(ctx, r.res, fmt.Sprintf("wait until %s to scale %s down", at.Format(time.RFC3339), st.Idle), func() (string, bool, error) {
		for {
			left := at.Sub(r.c.Clock.Now())
			if left <= 0 {
				return "", false, nil
			}
			r.c.Log("  %s scales down in %s", st.Idle, left.Round(time.Second))
			wait := r.c.Clock.NewTimer(min(left, time.Minute)) // a countdown line a minute
			select {
			case <-ctx.Done():
				wait.Stop()
				return "", false, ctx.Err()
			case <-wait.C():
			}
		}
	})
	if err != nil {
		return err
	}
	_, err = r.scaleDown(ctx, st)
	return err
}

// scaleDown scales the idle colour to zero, clears its deadline and hands the
// active colour's size back to its values.
func (r *run) scaleDown(ctx context.Context, st *observe.State) (*observe.State, error) {
	idle, active := st.Idle, st.Active
	change := values.Change{string(idle) + ".replicas": 0, string(idle) + ".scaleDownAt": ""}
	if p := st.Snapshot.Values.Colors[active].Replicas; p != nil && (st.Snapshot.Values.Autoscaling || *p == st.Snapshot.Values.DefaultReplicas()) {
		// The pin gave the new colour parity during the switch; from here its
		// autoscaler (or replicaCount, already equal) owns its size again.
		change[string(active)+".replicas"] = nil
	}
	if err := r.waitIdle(ctx, st, idle); err != nil {
		return st, err
	}
	err := r.c.step(ctx, r.res, fmt.Sprintf("scale %s to zero", idle), func() (string, bool, error) {
		next, err := r.c.apply(ctx, st, change, fmt.Sprintf("bluegreen: %s scaled to zero", idle))
		if err != nil {
			return "", false, err
		}
		st = next
		return "", false, nil
	})
	return st, err
}

// waitIdle waits, as one step, until colour c's pods serve no user request: the streams a switch
// left on them finish before they are scaled down. A stream still open at the bound is a reason
// to stop, not to cut it: the colour keeps running and the next finalize tries again.
func (r *run) waitIdle(ctx context.Context, st *observe.State, c values.Color) error {
	bound := r.opts.InFlightTimeout
	if bound <= 0 || st.Colors[c].Current == 0 {
		return nil
	}
	return r.c.step(ctx, r.res, fmt.Sprintf("wait for %s's in-flight user requests to end (at most %s)", c, bound), func() (string, bool, error) {
		wctx, cancel := context.WithTimeout(ctx, bound)
		defer cancel()
		start := time.Now()
		t := gate.Traffic{Prober: r.c.Prober, Namespace: st.Namespace, Port: podPort(st), Interval: r.c.PollInterval, Log: r.c.Log}
		if err := t.Idle(wctx, r.colourPods(st, c)); err != nil {
			if ctx.Err() != nil {
				return "", false, err
			}
			return "", false, fmt.Errorf("%s still serves user requests, so it was not scaled down (run finalize again, or raise --in-flight-timeout): %w", c, err)
		}
		return fmt.Sprintf("none in flight after %s", time.Since(start).Round(time.Millisecond)), false, nil
	})
}

// switchBack builds the change that points traffic at colour `to` again, rebasing the values
// on what it runs.
func switchBack(to values.Color) func(*release.Snapshot) values.Change {
	return func(s *release.Snapshot) values.Change {
		ch := rebase(s, to)
		ch["activeColor"] = string(to)
		return ch
	}
}

// parity is the replica count a colour must have before it takes traffic: what
// the active Deployment runs now (its autoscaler may have grown it past the
// values' minimum), never less than the values ask for, never above the
// autoscaler's maximum (the chart refuses that).
func parity(st *observe.State) int {
	v := st.Snapshot.Values
	n := int(st.Colors[st.Active].Current)
	if r := v.Colors[st.Active].Replicas; r != nil && *r > n {
		n = *r
	}
	if n == 0 {
		n = v.DefaultReplicas()
	}
	if v.Autoscaling && v.MaxReplicas > 0 && n > v.MaxReplicas {
		n = v.MaxReplicas
	}
	if n < 1 {
		n = 1
	}
	return n
}

// rebase is the part of the switch to colour `to` that moves the shared block to what `to`
// runs (snapshot.Rebase): the pods of both colours render the same, and `helm get values`
// then reads as "the shared block serves; the other colour differs in these keys".
func rebase(s *release.Snapshot, to values.Color) values.Change {
	return values.Change(snapshot.Rebase(s.Values.All, s.Chart.Values, string(to), string(to.Other()), s.Values.AppVersion)).Pending(s.User)
}

// colourTargets lists, before each gate or post-switch round, the Service (if any) and the
// Ready pods that colour `to` runs now: an autoscaler may add pods, and a rollout or a node
// drain may replace them; probing a pod that is gone would fail a healthy colour. None Ready
// is a failure.
func (r *run) colourTargets(st *observe.State, to values.Color, service string) func(ctx context.Context) ([]gate.Target, error) {
	deployment, port, podsNow := st.Colors[to].Deployment, podPort(st), r.colourPods(st, to)
	return func(ctx context.Context) ([]gate.Target, error) {
		pods, err := podsNow(ctx)
		if err != nil {
			return nil, err
		}
		var targets []gate.Target
		for _, p := range pods {
			if gate.PodReady(p) {
				targets = append(targets, gate.Target{Kind: "pod", Name: p.Name, Port: port})
			}
		}
		if len(targets) == 0 {
			return nil, fmt.Errorf("no pod of %s is Ready", deployment)
		}
		if service != "" {
			targets = append(targets, gate.Target{Kind: "service", Name: service, Port: servicePort})
		}
		return targets, nil
	}
}

// colourPods lists the pods colour c runs now, for the checks that must follow replaced pods.
func (r *run) colourPods(st *observe.State, c values.Color) func(ctx context.Context) ([]corev1.Pod, error) {
	deployment, ns := st.Colors[c].Deployment, st.Namespace
	return func(ctx context.Context) ([]corev1.Pod, error) {
		d, err := r.c.Kube.AppsV1().Deployments(ns).Get(ctx, deployment, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("get deployment %s: %w", deployment, err)
		}
		return gate.PodsOf(ctx, r.c.Kube, d)
	}
}
