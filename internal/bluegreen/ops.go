package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/gate"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/lease"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/observe"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/snapshot"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// Deploy stages a new snapshot under the idle colour, a copy of what the active colour runs
// with the change laid over it (image, config, secrets, resources, probes, ...), and cuts over
// to it through the gates. The active colour is never touched.
type Deploy struct {
	cfg *Configuration
	Cutover
	Tag    string
	Digest string
	// Values is the change with the shared keys' names (from --set and -f), written under the
	// idle colour: {"config": {"DEFAULT_MODEL": "m"}, "resources": {...}}.
	Values map[string]any
	// Env replaces the idle colour's extra env when set.
	Env []map[string]any
	ImageCheck
}

// ImageCheck is how a deploy or rollback looks for its image on the nodes before it scales up.
// By default an image on no node is fine (a real cluster pulls it on first use, and a kubelet
// lists only about 50 images); the rollout wait then ends at once on a failed pull.
type ImageCheck struct {
	// SkipImageCheck does not look at the nodes at all.
	SkipImageCheck bool
	// RequireImageOnNode refuses an image no node holds, as bad input: for clusters that
	// cannot pull (kind with loaded images, air-gapped nodes).
	RequireImageOnNode bool
}

// lookForImage looks for image on the nodes, as one step.
func (ic ImageCheck) lookForImage(ctx context.Context, c *Configuration, res *Result, image string) error {
	return c.step(ctx, res, "check image "+image+" is on a node", func() (string, bool, error) {
		if ic.SkipImageCheck {
			return "skipped on request", true, nil
		}
		err := c.imageOnNodes(ctx, image)
		if err != nil && !ic.RequireImageOnNode && errors.Is(err, ErrBadInput) {
			return "on no node yet: the nodes will pull it, and a failed pull ends the rollout wait at once (--require-image-on-node refuses it instead)", true, nil
		}
		return "", false, err
	})
}

// NewDeploy returns the deploy operation with its defaults.
func NewDeploy(cfg *Configuration) *Deploy { return &Deploy{cfg: cfg, Cutover: defaultCutover()} }

var (
	tagPattern    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
)

// Run validates the input, then runs the cutover's steps from wherever the release is.
func (d *Deploy) Run(ctx context.Context) (*Result, error) {
	c := d.cfg
	res := c.newResult("deploy")
	switch {
	case d.Tag == "" && d.Digest == "" && len(d.Values) == 0 && d.Env == nil:
		return d.badInput(ctx, res, "nothing to deploy: give --tag, --digest, --set, -f or --env")
	case d.Tag != "" && !tagPattern.MatchString(d.Tag):
		return d.badInput(ctx, res, fmt.Sprintf("image tag %q is not a valid tag", d.Tag))
	case d.Digest != "" && !digestPattern.MatchString(d.Digest):
		return d.badInput(ctx, res, fmt.Sprintf("image digest %q is not sha256:<64 hex>", d.Digest))
	}
	return c.operate(ctx, res, d.Cutover, func(ctx context.Context, r *run, st *observe.State) error {
		if st.Split() {
			return splitError(st)
		}
		extra, staged, err := d.stage(st)
		if err != nil {
			return err
		}
		image := staged.Image
		if err := d.lookForImage(ctx, c, res, image); err != nil {
			return err
		}
		if r.unverified(st) {
			if st.Colors[st.Active].Image != image {
				return fmt.Errorf("%w: an interrupted cutover switched traffic to %s (%s) and did not verify it: run `promote` to finish it or `abort` to switch back first",
					ErrBadInput, st.Active, st.Colors[st.Active].Image)
			}
			return r.afterSwitch(ctx, st, st.Idle, st.Active)
		}
		if len(staged.Differs) == 0 && st.Colors[st.Active].LiveImage == image {
			res.Outcome = "unchanged"
			c.Log("%s already serves this snapshot (%s): nothing to deploy", st.Active, image)
			return nil
		}
		c.Log("staging under %s: %s", st.Idle, strings.Join(staged.Differs, ", "))
		return r.cutover(ctx, st, st.Idle, extra)
	})
}

// staged is what a deploy puts under the idle colour.
type staged struct {
	Image   string   // the reference the idle colour will run
	Differs []string // the keys in which it differs from the active colour
}

// stage builds the idle colour's new block and checks it against the chart, so bad input
// changes nothing: a key that does not shape pods, one the chart lacks, or a value its
// schema rejects (the error names the key as a JSON pointer, under the idle colour).
func (d *Deploy) stage(st *observe.State) (values.Change, staged, error) {
	ch := st.Snapshot.Chart
	over := values.Copy(d.Values)
	if d.Tag != "" || d.Digest != "" {
		img, _ := over["image"].(map[string]any)
		if img == nil {
			img = map[string]any{}
		}
		img["tag"], img["digest"] = d.Tag, d.Digest
		over["image"] = img
	}
	if err := snapshot.Validate(over, ch.Values); err != nil {
		return nil, staged{}, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	all := st.Snapshot.Values.All
	idle := string(st.Idle)
	extra := values.Change{}
	for k, v := range snapshot.Stage(all, string(st.Active), over) {
		extra[idle+"."+k] = v
	}
	// Write only what differs from the idle block as it is, so history and a GitOps diff show
	// the change, not every key of the snapshot.
	extra = extra.Pending(st.Snapshot.User)
	if d.Env != nil {
		extra[idle+".env"] = toAnySlice(d.Env)
	}
	next, err := chartutil.CoalesceValues(ch, extra.Merge(st.Snapshot.User))
	if err != nil {
		return nil, staged{}, fmt.Errorf("coalesce staged values: %w", err)
	}
	if err := chartutil.ValidateAgainstSchema(ch, next); err != nil {
		return nil, staged{}, fmt.Errorf("%w: the change under %s fails the chart's schema: %w", ErrBadInput, idle, err)
	}
	appVersion := ""
	if ch.Metadata != nil {
		appVersion = ch.Metadata.AppVersion
	}
	idleSnap := snapshot.Of(next, idle, appVersion)
	out := staged{
		Image:   values.StringAt(idleSnap, "image"),
		Differs: snapshot.Diff(snapshot.Of(all, string(st.Active), appVersion), idleSnap),
	}
	return extra, out, nil
}

func (d *Deploy) badInput(ctx context.Context, res *Result, msg string) (*Result, error) {
	err := fmt.Errorf("%w: %s", ErrBadInput, msg)
	res.Outcome, res.Error = outcomeOf(err), err.Error()
	return res, err
}

func toAnySlice(env []map[string]any) []any {
	out := make([]any, len(env))
	for i, e := range env {
		out[i] = e
	}
	return out
}

// imageOnNodes refuses an image no node has: node.status.images lists what the
// kubelets hold, under the names the runtime normalised (docker.io/library/...).
func (c *Configuration) imageOnNodes(ctx context.Context, image string) error {
	nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes to find image %s: %w", image, err)
	}
	for i := range nodes.Items {
		if gate.NodeHasImage(&nodes.Items[i], image) {
			return nil
		}
	}
	return fmt.Errorf("%w: image %s is on none of the %d nodes (load it, or drop --require-image-on-node if the nodes can pull it)", ErrBadInput, image, len(nodes.Items))
}

// Promote switches to an already deployed idle colour through the same gates.
type Promote struct {
	cfg *Configuration
	Cutover
}

// NewPromote returns the promote operation with its defaults.
func NewPromote(cfg *Configuration) *Promote { return &Promote{cfg: cfg, Cutover: defaultCutover()} }

// Run promotes the idle colour, or finishes verifying an interrupted switch.
func (p *Promote) Run(ctx context.Context) (*Result, error) {
	c := p.cfg
	res := c.newResult("promote")
	return c.operate(ctx, res, p.Cutover, func(ctx context.Context, r *run, st *observe.State) error {
		switch phase(st, r.prev, c.Clock.Now()) {
		case PhaseUnverified:
			return r.afterSwitch(ctx, st, st.Idle, st.Active)
		case PhaseStable:
			return fmt.Errorf("%w: nothing to promote: %s is scaled to zero (use deploy)", ErrBadInput, st.Idle)
		case PhaseRollbackReady, PhaseScaleDownDue:
			return fmt.Errorf("%w: %s is the previous version kept for rollback, not a new one (use rollback)", ErrBadInput, st.Idle)
		}
		return r.cutover(ctx, st, st.Idle, nil)
	})
}

// Rollback goes back to the previous colour: scaled up first if it was scaled
// down, then the same gates and switch.
type Rollback struct {
	cfg *Configuration
	Cutover
	ImageCheck
}

// NewRollback returns the rollback operation with its defaults.
func NewRollback(cfg *Configuration) *Rollback { return &Rollback{cfg: cfg, Cutover: defaultCutover()} }

// Run rolls back to the idle colour.
func (rb *Rollback) Run(ctx context.Context) (*Result, error) {
	c := rb.cfg
	res := c.newResult("rollback")
	return c.operate(ctx, res, rb.Cutover, func(ctx context.Context, r *run, st *observe.State) error {
		switch phase(st, r.prev, c.Clock.Now()) {
		case PhaseSplit:
			return splitError(st)
		case PhasePreview:
			return fmt.Errorf("%w: %s holds an unpromoted deploy (%s), not the previous version (use promote or abort)", ErrBadInput, st.Idle, st.Colors[st.Idle].Image)
		case PhaseUnverified:
			return fmt.Errorf("%w: the switch to %s is not verified yet (use abort to switch back)", ErrBadInput, st.Active)
		case PhaseStable:
			if err := rb.lookForImage(ctx, c, res, st.Colors[st.Idle].Image); err != nil {
				return err
			}
		}
		return r.cutover(ctx, st, st.Idle, nil)
	})
}

// Abort ends a deploy: traffic stays (or goes back, after an unverified switch) on
// the serving colour and the idle colour is scaled to zero.
type Abort struct{ cfg *Configuration }

// NewAbort returns the abort operation.
func NewAbort(cfg *Configuration) *Abort { return &Abort{cfg: cfg} }

// Run aborts.
func (a *Abort) Run(ctx context.Context) (*Result, error) {
	c := a.cfg
	res := c.newResult("abort")
	return c.operate(ctx, res, defaultCutover(), func(ctx context.Context, r *run, st *observe.State) error {
		var err error
		switch phase(st, r.prev, c.Clock.Now()) {
		case PhaseStable:
			res.Outcome = "unchanged"
			return nil
		case PhaseRollbackReady, PhaseScaleDownDue:
			return fmt.Errorf("%w: no deploy in progress: %s is the previous version kept for rollback (finalize --now scales it down)", ErrBadInput, st.Idle)
		case PhaseSplit:
			if st, err = r.abortSwitch(ctx, st, st.Active, fmt.Sprintf("switch service %s back to %s (it selects %s after a failed upgrade)", st.Service.Name, st.Active, st.Idle)); err != nil {
				return err
			}
		case PhaseUnverified:
			if st, err = r.abortSwitch(ctx, st, st.Idle, fmt.Sprintf("switch back to %s (the switch to %s was never verified)", st.Idle, st.Active)); err != nil {
				return err
			}
		}
		_, err = r.scaleDown(ctx, st)
		return err
	})
}

// abortSwitch points traffic at colour `to` for abort, as one step, and drops the switch the
// lock recorded.
func (r *run) abortSwitch(ctx context.Context, st *observe.State, to values.Color, name string) (*observe.State, error) {
	err := r.c.step(ctx, r.res, name, func() (string, bool, error) {
		next, err := r.c.applyBuilt(ctx, st, switchBack(to), fmt.Sprintf("bluegreen: abort, service back to %s", to))
		if err != nil {
			return "", false, err
		}
		st = next
		return "", false, nil
	})
	if err == nil {
		r.record = lease.Progress{}
	}
	return st, err
}

// splitError refuses an operation that would change the idle colour while it takes traffic.
func splitError(st *observe.State) error {
	return fmt.Errorf("%w: service %s selects %s while the values name %s (an upgrade failed halfway): run `promote` to finish that switch or `abort` to point the service back at %s",
		ErrBadInput, st.Service.Name, st.Idle, st.Active, st.Active)
}

// Finalize scales the previous colour to zero once its deadline has passed. It is
// idempotent and quiet when there is nothing to do, so cron can run it.
type Finalize struct {
	cfg *Configuration
	// Now ignores the deadline.
	Now bool
	// InFlightTimeout bounds the wait for the old colour's in-flight user requests to end.
	InFlightTimeout time.Duration
}

// NewFinalize returns the finalize operation.
func NewFinalize(cfg *Configuration) *Finalize {
	return &Finalize{cfg: cfg, InFlightTimeout: defaultCutover().InFlightTimeout}
}

// Run finalizes.
func (f *Finalize) Run(ctx context.Context) (*Result, error) {
	c := f.cfg
	res := c.newResult("finalize")
	opts := defaultCutover()
	opts.InFlightTimeout = f.InFlightTimeout
	return c.operate(ctx, res, opts, func(ctx context.Context, r *run, st *observe.State) error {
		switch phase(st, r.prev, c.Clock.Now()) {
		case PhaseStable:
			res.Outcome = "unchanged"
			c.Log("%s is already scaled to zero: nothing to finalize", st.Idle)
			return nil
		case PhaseSplit:
			return splitError(st)
		case PhasePreview, PhaseUnverified:
			res.Outcome = "unchanged"
			c.Log("%s runs without a deadline (a cutover in progress): nothing to finalize", st.Idle)
			return nil
		case PhaseRollbackReady:
			if !f.Now {
				at := *st.Snapshot.Values.Colors[st.Idle].ScaleDownAt
				res.Outcome = "waiting"
				c.Log("%s scales down at %s (in %s): not yet", st.Idle, at.Format(time.RFC3339), at.Sub(c.Clock.Now()).Round(time.Second))
				return nil
			}
		}
		_, err := r.scaleDown(ctx, st)
		return err
	})
}
