package bluegreen

import (
	"context"
	"fmt"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/lease"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/observe"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/release"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/snapshot"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// Steps an operation records on the lock while the values alone do not show where it is.
const (
	// StepSwitched marks a switch whose verification has not finished yet.
	StepSwitched = "switched"
	// StepVerified marks a verified switch whose old colour has no scale-down deadline yet:
	// without it, an interrupt there would leave the old colour running with nothing to
	// say it is the previous version, and it would read as a deploy waiting to be promoted.
	StepVerified = "verified"
)

// Phases a release can be in, derived from its values and live objects.
const (
	PhaseSplit         = "split"          // the Service selects the colour the values do not name: promote or abort
	PhaseStable        = "stable"         // the idle colour is scaled to zero
	PhasePreview       = "preview"        // the idle colour runs, not serving: promote or abort
	PhaseUnverified    = "unverified"     // a switch was made and not verified: re-run to verify
	PhaseVerified      = "verified"       // a switch was verified, the old colour's deadline not recorded: finalize
	PhaseRollbackReady = "rollback-ready" // the previous colour is kept until its deadline
	PhaseScaleDownDue  = "scale-down-due" // its deadline passed: finalize
)

// Status is a release's blue-green state.
type Status struct {
	Release   string `json:"release"`
	Namespace string `json:"namespace"`
	// ObjectNamespace is where the chart's objects live, when namespaceOverride moves them
	// out of the release's namespace.
	ObjectNamespace string                               `json:"objectNamespace,omitempty"`
	Source          string                               `json:"source"`
	Revision        int                                  `json:"revision,omitempty"`
	Phase           string                               `json:"phase"`
	Active          values.Color                         `json:"activeColor"`
	Idle            values.Color                         `json:"idleColor"`
	Colors          map[values.Color]*observe.ColorState `json:"colors"`
	Service         observe.ServiceState                 `json:"service"`
	Preview         observe.ServiceState                 `json:"previewService"`
	Lock            *lease.Info                          `json:"lock,omitempty"`
	// Differs lists the keys in which the idle colour's snapshot differs from the active
	// one's ("image", "config.DEFAULT_MODEL", "secrets.DEEPSEEK_API_KEY"; never a secret's value).
	Differs []string `json:"differs,omitempty"`
	Next    []string `json:"next,omitempty"`
}

// StatusAction reads a release's blue-green state.
type StatusAction struct{ cfg *Configuration }

// NewStatus returns the status operation.
func NewStatus(cfg *Configuration) *StatusAction { return &StatusAction{cfg: cfg} }

// Run reads the values, live objects and lock.
func (s *StatusAction) Run(ctx context.Context) (*Status, error) {
	st, err := s.cfg.load(ctx)
	if err != nil {
		return nil, err
	}
	return s.cfg.status(ctx, st)
}

func (c *Configuration) status(ctx context.Context, st *observe.State) (*Status, error) {
	info, err := lease.Read(ctx, c.Kube, c.Namespace, c.Release, c.Clock.Now())
	if err != nil {
		return nil, err
	}
	out := &Status{
		Release: c.Release, Namespace: c.Namespace, Source: c.Store.Describe(), Revision: st.Snapshot.Revision,
		Active: st.Active, Idle: st.Idle, Colors: st.Colors, Service: st.Service, Preview: st.Preview, Lock: info,
	}
	var p lease.Progress
	if info != nil {
		p = info.Progress
	}
	if st.Namespace != c.Namespace {
		out.ObjectNamespace = st.Namespace
	}
	out.Differs = differs(st.Snapshot)
	out.Phase = phase(st, p, c.Clock.Now())
	out.Next = c.next(out)
	return out, nil
}

// phase derives where a release is from its values, the live objects and an
// unfinished switch recorded on the lock.
func phase(st *observe.State, p lease.Progress, now time.Time) string {
	idle := st.Snapshot.Values.Colors[st.Idle]
	switch {
	case st.Split():
		return PhaseSplit
	case st.Snapshot.Values.ScaledToZero(st.Idle):
		return PhaseStable
	case idle.ScaleDownAt != nil && !now.Before(*idle.ScaleDownAt):
		return PhaseScaleDownDue
	case idle.ScaleDownAt != nil:
		return PhaseRollbackReady
	case p.Step == StepSwitched && p.To == st.Active && p.From == st.Idle:
		return PhaseUnverified
	case p.Step == StepVerified && p.To == st.Active && p.From == st.Idle:
		return PhaseVerified
	default:
		return PhasePreview
	}
}

func (c *Configuration) next(s *Status) []string {
	cmd := fmt.Sprintf("bluegreen -n %s", c.Namespace)
	idle := s.Colors[s.Idle]
	var next []string
	if s.Lock != nil && s.Lock.Held {
		next = append(next, fmt.Sprintf("wait: %s holds the lock (until %s unless renewed)", s.Lock.Holder, s.Lock.Expires.UTC().Format(time.RFC3339)))
	}
	switch s.Phase {
	case PhaseSplit:
		next = append(next,
			fmt.Sprintf("%s abort %s      # point service %s back at %s, as %s says, and scale %s down", cmd, c.Release, s.Service.Name, s.Active, s.Source, s.Idle),
			fmt.Sprintf("%s promote %s    # switch to %s through the gates, as the switch that failed meant to", cmd, c.Release, s.Idle))
	case PhaseStable:
		next = append(next,
			fmt.Sprintf("%s deploy %s --tag <new tag>    # ship a new version through %s", cmd, c.Release, s.Idle),
			fmt.Sprintf("%s deploy %s --set config.<KEY>=<value>    # or any pod-shaping change (model, secret, resources), through %s", cmd, c.Release, s.Idle))
	case PhasePreview:
		next = append(next,
			fmt.Sprintf("%s promote %s    # switch traffic to %s (%s) through the gates", cmd, c.Release, s.Idle, idle.Image),
			fmt.Sprintf("%s abort %s      # keep traffic on %s and scale %s down", cmd, c.Release, s.Active, s.Idle))
	case PhaseUnverified:
		next = append(next,
			fmt.Sprintf("%s promote %s    # finish verifying the switch to %s", cmd, c.Release, s.Active),
			fmt.Sprintf("%s abort %s      # switch back to %s", cmd, c.Release, s.Idle))
	case PhaseVerified:
		next = append(next,
			fmt.Sprintf("%s finalize %s   # record %s's scale-down deadline: the switch to %s was verified, then interrupted", cmd, c.Release, s.Idle, s.Active),
			fmt.Sprintf("%s rollback %s   # back to %s (%s)", cmd, c.Release, s.Idle, idle.Image))
	case PhaseRollbackReady:
		next = append(next,
			fmt.Sprintf("%s rollback %s   # back to %s (%s)", cmd, c.Release, s.Idle, idle.Image),
			fmt.Sprintf("%s finalize %s   # scales %s to zero once %s has passed (cron-safe)", cmd, c.Release, s.Idle, idle.ScaleDownAt.UTC().Format(time.RFC3339)))
	case PhaseScaleDownDue:
		next = append(next, fmt.Sprintf("%s finalize %s   # scale %s to zero now", cmd, c.Release, s.Idle))
	}
	return next
}

// differs lists the keys in which the idle colour's snapshot differs from the active one's.
func differs(s *release.Snapshot) []string {
	v := s.Values
	return snapshot.Diff(snapshot.Of(v.All, string(v.Active), v.AppVersion), snapshot.Of(v.All, string(v.Active.Other()), v.AppVersion))
}
