package bluegreen_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/fakecluster"
)

// interruptWhen cancels the run at the first probe that matches, like Ctrl-C.
func interruptWhen(f *fixture, match func(fakecluster.Probe) bool) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	f.t.Cleanup(cancel)
	var once sync.Once
	f.cl.Respond = func(p fakecluster.Probe) (int, bool) {
		if match(p) {
			once.Do(cancel)
		}
		return 0, false
	}
	return ctx
}

func countSwitches(f *fixture) int {
	n := 0
	for _, d := range f.history() {
		if strings.HasPrefix(d, "bluegreen: switch blue -> green") {
			n++
		}
	}
	return n
}

func TestInterruptedAfterSwitchResumesVerification(t *testing.T) {
	t.Parallel()
	for _, rerun := range []string{"promote", "deploy"} {
		t.Run("rerun "+rerun, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			ctx := interruptWhen(f, func(p fakecluster.Probe) bool { return p.Active == "green" })
			res, err := f.deploy("2.0.0").Run(ctx)
			require.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, "interrupted", res.Outcome)
			assert.Contains(t, res.Next[0], "interrupted: run `bluegreen deploy` again")
			require.NotNil(t, res.Status, "an interrupted run reports the state it left")
			assert.Equal(t, bluegreen.PhaseUnverified, res.Status.Phase)
			assert.Equal(t, "green", f.serviceColor(), "the switch was made")
			assert.Empty(t, f.value("blue.scaleDownAt"), "not verified, so no deadline yet")
			require.True(t, f.leaseExists(), "the unverified switch stays recorded")
			require.NotNil(t, res.Status.Lock)
			assert.False(t, res.Status.Lock.Held, "an interrupted run lets go of the lock")

			f.cl.Respond = nil
			var err2 error
			if rerun == "promote" {
				p := bluegreen.NewPromote(f.cfg)
				fast(&p.Cutover)
				_, err2 = p.Run(context.Background())
			} else {
				_, err2 = f.deploy("2.0.0").Run(context.Background())
			}
			require.NoError(t, err2)
			assert.Equal(t, 1, countSwitches(f), "resuming verifies; it does not switch again")
			assert.Equal(t, "green", f.serviceColor())
			assert.NotNil(t, f.value("blue.scaleDownAt"))
			assert.Equal(t, bluegreen.PhaseRollbackReady, f.status().Phase)
			assert.False(t, f.leaseExists())
		})
	}
}

func TestInterruptedDuringGateResumes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := interruptWhen(f, func(p fakecluster.Probe) bool { return p.Color == "green" })
	_, err := f.deploy("2.0.0").Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "blue", f.serviceColor())
	assert.Equal(t, bluegreen.PhasePreview, f.status().Phase)
	assert.False(t, f.leaseExists(), "nothing to resume that the values do not show")

	f.cl.Respond = nil
	revision := f.rel().Version
	res, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "skipped", stepOutcome(res, "scale green"), "green already had its values")
	assert.Equal(t, revision+2, f.rel().Version, "only the switch and the deadline were upgrades")
	assert.Equal(t, "green", f.serviceColor())
}

// An interrupt that lands as the gate's last probe answers lets the gate pass, but
// the switch must not start: a run stops between steps.
func TestInterruptedAsTheGatePassesDoesNotSwitch(t *testing.T) {
	t.Parallel()
	gateProbes := func(f *fixture) int {
		n := 0
		for _, p := range f.cl.Probes() {
			if p.Color == "green" && p.Active == "blue" {
				n++
			}
		}
		return n
	}
	whole := newFixture(t, nil)
	_, err := whole.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)
	last := gateProbes(whole)
	require.Positive(t, last)

	f := newFixture(t, nil)
	var mu sync.Mutex
	seen := 0
	ctx := interruptWhen(f, func(p fakecluster.Probe) bool {
		mu.Lock()
		defer mu.Unlock()
		if p.Color == "green" && p.Active == "blue" {
			seen++
		}
		return seen == last
	})
	res, err := f.deploy("2.0.0").Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "done", stepOutcome(res, "gate"), "the interrupt came with the gate's last probe")
	assert.Equal(t, "not started", stepOutcome(res, "switch"))
	assert.Equal(t, "blue", f.serviceColor(), "no switch after the interrupt")
	assert.Equal(t, 0, countSwitches(f))
	assert.False(t, f.leaseExists(), "nothing was switched, so nothing is left to resume")
}

func TestKilledRunsLockIsTakenOverAndResumed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := interruptWhen(f, func(p fakecluster.Probe) bool { return p.Active == "green" })
	_, err := f.deploy("2.0.0").Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	// Make it look like kill -9: the holder is still named but stopped renewing.
	leases := f.cl.Kube.CoordinationV1().Leases(testNS)
	l, err := leases.Get(context.Background(), "bluegreen-"+testRelease, metav1.GetOptions{})
	require.NoError(t, err)
	dead, renewed := "dead@host pid 9", metav1.NewMicroTime(f.clock())
	l.Spec.HolderIdentity, l.Spec.RenewTime = &dead, &renewed
	_, err = leases.Update(context.Background(), l, metav1.UpdateOptions{})
	require.NoError(t, err)
	f.cl.Respond = nil

	p := bluegreen.NewPromote(f.cfg)
	fast(&p.Cutover)
	_, err = p.Run(context.Background())
	require.ErrorIs(t, err, bluegreen.ErrLocked, "a lease still within its duration is held")
	assert.Contains(t, err.Error(), "dead@host pid 9")

	f.advance(time.Minute)
	_, err = p.Run(context.Background())
	require.NoError(t, err, "an expired lease is taken over")
	assert.Equal(t, 1, countSwitches(f))
	assert.NotNil(t, f.value("blue.scaleDownAt"))
}

func TestSecondRunIsRefusedNamingTheHolder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	holder, secs, now := "alice@laptop pid 4242", int32(30), metav1.NewMicroTime(f.clock())
	_, err := f.cl.Kube.CoordinationV1().Leases(testNS).Create(context.Background(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "bluegreen-" + testRelease, Annotations: map[string]string{"bluegreen.ai-assistant.io/operation": "deploy"}},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, RenewTime: &now},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	revision := f.rel().Version

	for name, run := range map[string]func(context.Context) (*bluegreen.Result, error){
		"deploy":   f.deploy("2.0.0").Run,
		"promote":  bluegreen.NewPromote(f.cfg).Run,
		"rollback": bluegreen.NewRollback(f.cfg).Run,
		"abort":    bluegreen.NewAbort(f.cfg).Run,
		"finalize": bluegreen.NewFinalize(f.cfg).Run,
	} {
		res, err := run(context.Background())
		require.ErrorIs(t, err, bluegreen.ErrLocked, name)
		assert.Contains(t, err.Error(), "alice@laptop pid 4242 is running deploy", name)
		assert.Equal(t, "locked", res.Outcome, name)
	}
	assert.Equal(t, revision, f.rel().Version, "nothing changed")
}

func TestPendingHelmOperationIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	rel := f.rel()
	rel.Info.Status = "pending-upgrade"
	require.NoError(t, f.cl.Helm.Releases.Update(rel))
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.ErrorIs(t, err, bluegreen.ErrLocked)
	assert.Contains(t, err.Error(), "pending-upgrade")
	assert.False(t, f.leaseExists())
}

func stepOutcome(res *bluegreen.Result, prefix string) string {
	for _, s := range res.Steps {
		if strings.HasPrefix(s.Name, prefix) {
			return s.Outcome
		}
	}
	return ""
}
