// Package bluegreen is the health-gated blue-green cutover of the ai-assistant chart,
// run as a command instead of a controller. Each operation (Status, Deploy, Promote,
// Rollback, Abort, Finalize) is a struct built from one Configuration, with defaults
// and a Run, like Helm's pkg/action. A cutover is a list of idempotent steps that
// derive where they are from the release's values and the live objects, so a
// killed run converges when run again. Every change is a Helm upgrade of the
// release (or, with GitOps, an edit of its values file): never a patch.
//
// The operations sit on top; each job below them has its own package: observe reads the
// cluster, release loads and changes the values (a Helm release or a GitOps file), values
// is the chart's values contract and its edits, and lease is the lock.
package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/gate"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/observe"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/release"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// Configuration holds what every operation shares: where the values live, the
// cluster, and how pods are reached. Tests inject fakes for all three.
type Configuration struct {
	Store     release.Store
	Kube      kubernetes.Interface
	Prober    gate.Prober
	Release   string
	Namespace string

	// Log prints progress lines; the default drops them.
	Log func(format string, args ...any)
	// Clock tells the time and waits for deadlines (the scale-down delay); tests pass a fake.
	Clock clock.WithTicker
	// Holder names this run on the lock.
	Holder string
	// LeaseDuration is the duration this run records on its lease, renewing it every tenth of
	// it: how long the lease blocks other runs once this one is killed. A run takes a lease over
	// once it has watched it go the duration its holder recorded without a renewal.
	LeaseDuration time.Duration
	// PollInterval paces every wait on the cluster.
	PollInterval time.Duration
	// ConvergeTimeout bounds the wait for the cluster to show a change of values.
	ConvergeTimeout time.Duration
}

// NewConfiguration returns a Configuration with defaults.
func NewConfiguration(store release.Store, kube kubernetes.Interface, prober gate.Prober, releaseName, namespace string) *Configuration {
	return &Configuration{
		Store:           store,
		Kube:            kube,
		Prober:          prober,
		Release:         releaseName,
		Namespace:       namespace,
		Log:             func(string, ...any) {},
		Clock:           clock.RealClock{},
		Holder:          defaultHolder(),
		LeaseDuration:   30 * time.Second, // a killed run blocks the next one this long at most
		PollInterval:    2 * time.Second,  // the endpoints and HPA controllers' own pace
		ConvergeTimeout: 5 * time.Minute,  // GitOps tools sync every few minutes
	}
}

func defaultHolder() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s@%s pid %d", name, host, os.Getpid())
}

// Gates are the thresholds of the checks around a switch.
type Gates struct {
	// RolloutTimeout bounds the wait for the idle colour to be Ready and available.
	RolloutTimeout time.Duration
	// Passes is how many rounds in a row the health gate must pass.
	Passes int
	// Interval paces the gate's rounds and the post-switch check.
	Interval time.Duration
	// GateTimeout bounds the health gate.
	GateTimeout time.Duration
	// Smoke are extra paths requested through the preview Service.
	Smoke []string
	// DrainTimeout bounds the wait for endpoints to move and the old colour's rate to fall.
	DrainTimeout time.Duration
	// MaxOldRate is the old colour's user request rate (per second) counted as drained.
	MaxOldRate float64
	// VerifyFor is how long the new colour must keep passing after the switch.
	VerifyFor time.Duration
	// FailureLimit is how many failed rounds in a row the post-switch check tolerates
	// before it switches back.
	FailureLimit int
}

// DefaultGates returns the gates' defaults.
func DefaultGates() Gates {
	return Gates{
		RolloutTimeout: 5 * time.Minute, // the seed's startupProbe allows 5 minutes of model loading
		Passes:         3,               // one lucky answer is not health
		Interval:       2 * time.Second,
		GateTimeout:    2 * time.Minute,
		DrainTimeout:   2 * time.Minute, // keep-alive clients reconnect within their idle timeout
		MaxOldRate:     0.1,             // well under one user request per old pod in ten seconds
		VerifyFor:      30 * time.Second,
		FailureLimit:   2, // three failed rounds in a row (6 s at the default interval) switch back
	}
}

// Step is one step of an operation as it happened.
type Step struct {
	Name    string `json:"name"`
	Outcome string `json:"outcome"` // done, skipped, failed, or "not started" (interrupted before it)
	Detail  string `json:"detail,omitempty"`
	Elapsed string `json:"elapsed"`
	// Started is when the step began (wall clock), so a step can be lined up with what the
	// cluster recorded; zero for a step never started.
	Started time.Time `json:"started,omitzero"`
}

// Result is what an operation did and what to do next; it is returned with the
// error when one stops it, so the caller can still say what was done.
type Result struct {
	Operation string   `json:"operation"`
	Release   string   `json:"release"`
	Namespace string   `json:"namespace"`
	Outcome   string   `json:"outcome"`
	Steps     []Step   `json:"steps"`
	Next      []string `json:"next,omitempty"`
	Status    *Status  `json:"status,omitempty"`
	Error     string   `json:"error,omitempty"`
	// Warnings are risks the operation saw and went on with.
	Warnings []string `json:"warnings,omitempty"`
}

// step runs one named step, logs it with its elapsed time and records it. Once ctx
// is cancelled no step starts: an interrupt stops a run between steps, never halfway
// (a step that must run anyway, the switch back, is given a context without cancel).
func (c *Configuration) step(ctx context.Context, res *Result, name string, fn func() (detail string, skipped bool, err error)) error {
	start := time.Now()
	c.Log("==> %s", name)
	var detail string
	var skipped bool
	err := context.Cause(ctx)
	started := err == nil
	if started {
		detail, skipped, err = fn()
	}
	s := Step{Name: name, Outcome: "done", Detail: detail, Elapsed: time.Since(start).Round(time.Millisecond).String()}
	if started {
		s.Started = start.UTC()
	}
	switch {
	case !started:
		s.Outcome, s.Detail = "not started", err.Error()
	case err != nil:
		s.Outcome, s.Detail = "failed", err.Error()
	case skipped:
		s.Outcome = "skipped"
	}
	res.Steps = append(res.Steps, s)
	if s.Detail != "" {
		c.Log("    %s: %s (%s)", s.Outcome, s.Detail, s.Elapsed)
	} else {
		c.Log("    %s (%s)", s.Outcome, s.Elapsed)
	}
	return err
}

// load reads the values and the live objects.
func (c *Configuration) load(ctx context.Context) (*observe.State, error) {
	snap, err := c.Store.Load(ctx)
	if err != nil {
		return nil, err
	}
	_, helm := c.Store.(*release.HelmStore)
	return observe.Cluster(ctx, c.Kube, snap, c.Namespace, helm)
}

// apply changes the values, then waits until the cluster shows them: at once after
// a Helm upgrade, after a sync for GitOps.
func (c *Configuration) apply(ctx context.Context, st *observe.State, change values.Change, description string) (*observe.State, error) {
	return c.applyBuilt(ctx, st, func(*release.Snapshot) values.Change { return change }, description)
}

// applyBuilt is apply for a change built from the values it goes over. When another upgrade
// landed since st was read, the values are read again and the change built again over them,
// and the run says so: nothing that upgrade set is undone.
func (c *Configuration) applyBuilt(ctx context.Context, st *observe.State, build func(*release.Snapshot) values.Change, description string) (*observe.State, error) {
	change := build(st.Snapshot)
	// After a failed upgrade the live objects may not be what the values say; an upgrade of
	// the same values puts them back (Helm's three-way merge patches the drift).
	redo := st.Split()
	for attempt := 1; redo || !change.Satisfied(st.Snapshot.User); attempt++ {
		err := c.Store.Apply(ctx, st.Snapshot, change, description)
		var stale *release.StaleError
		if !errors.As(err, &stale) {
			if err != nil {
				return nil, err
			}
			break
		}
		if attempt == 3 {
			return nil, fmt.Errorf("%w: %v, three times in a row: another tool keeps upgrading the release", ErrLocked, stale.Error())
		}
		if st, err = c.load(ctx); err != nil {
			return nil, err
		}
		change = build(st.Snapshot)
		redo = st.Split()
		c.Log("  %v: read it again; applying only %s over it", stale, change)
	}
	var out *observe.State
	wctx, cancel := context.WithTimeout(ctx, c.ConvergeTimeout)
	defer cancel()
	start := time.Now()
	last := ""
	err := gate.Poll(wctx, c.PollInterval, func(ctx context.Context) (bool, string, error) {
		if sy, ok := c.Store.(release.Syncer); ok {
			waiting, err := sy.Synced(ctx)
			if err != nil {
				return false, "", err
			}
			if waiting != "" {
				if waiting != last {
					c.Log("  waiting for %s (%s)", waiting, time.Since(start).Round(time.Second))
					last = waiting
				}
				return false, waiting, nil
			}
		}
		next, err := c.load(ctx)
		if err != nil {
			return false, "", err
		}
		if !change.Satisfied(next.Snapshot.User) {
			return false, fmt.Sprintf("%s to hold %s", c.Store.Describe(), change), nil
		}
		waiting := next.Converged()
		if waiting != "" && waiting != last {
			c.Log("  waiting for %s (%s)", waiting, time.Since(start).Round(time.Second))
			last = waiting
		}
		out = next
		return waiting == "", waiting, nil
	})
	if err != nil {
		return nil, fmt.Errorf("wait for the cluster to show %s: %w", change, err)
	}
	return out, nil
}
