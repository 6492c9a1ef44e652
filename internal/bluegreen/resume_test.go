package bluegreen_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/fakecluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
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
	// Make it look like kill -9: the holder is still named, with a renewal stamped far in the
	// future by its clock, and it never renews again.
	leases := f.cl.Kube.CoordinationV1().Leases(testNS)
	l, err := leases.Get(context.Background(), "bluegreen-"+testRelease, metav1.GetOptions{})
	require.NoError(t, err)
	dead, renewed := "dead@host pid 9", metav1.NewMicroTime(time.Now().Add(time.Hour))
	l.Spec.HolderIdentity, l.Spec.RenewTime = &dead, &renewed
	_, err = leases.Update(context.Background(), l, metav1.UpdateOptions{})
	require.NoError(t, err)
	f.cl.Respond = nil

	logged := f.captureLog()
	p := bluegreen.NewPromote(f.cfg)
	fast(&p.Cutover)
	began := time.Now()
	_, err = p.Run(context.Background())
	require.NoError(t, err, "a lease nobody renews is taken over, whatever its holder's clock wrote")
	assert.GreaterOrEqual(t, time.Since(began), f.cfg.LeaseDuration, "only after watching it go a lease duration without renewal")
	assert.Contains(t, logged(), "is held by dead@host pid 9 (deploy): taken over if it is not renewed for "+f.cfg.LeaseDuration.String())
	assert.Contains(t, logged(), `resuming deploy left at step "switched" (blue -> green)`)
	assert.Equal(t, 1, countSwitches(f))
	assert.NotNil(t, f.value("blue.scaleDownAt"))
	assert.False(t, f.leaseExists())
}

func TestSecondRunIsRefusedNamingTheHolder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.holdLease("alice@laptop pid 4242", "deploy")
	revision := f.rel().Version

	for name, run := range map[string]func(context.Context) (*bluegreen.Result, error){
		"deploy":   f.deploy("2.0.0").Run,
		"promote":  bluegreen.NewPromote(f.cfg).Run,
		"rollback": bluegreen.NewRollback(f.cfg).Run,
		"abort":    bluegreen.NewAbort(f.cfg).Run,
		"finalize": bluegreen.NewFinalize(f.cfg).Run,
	} {
		began := time.Now()
		res, err := run(context.Background())
		require.ErrorIs(t, err, bluegreen.ErrLocked, name)
		assert.Contains(t, err.Error(), "alice@laptop pid 4242 is running deploy", name)
		assert.Equal(t, "locked", res.Outcome, name)
		assert.Less(t, time.Since(began), f.cfg.LeaseDuration, "%s: refused once it saw a renewal, not at expiry", name)
	}
	assert.Equal(t, revision, f.rel().Version, "nothing changed")
	assert.True(t, f.leaseExists(), "the live run's lease is not touched")
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

// An interrupt after the verification and before the old colour's deadline is recorded must
// not leave a state that reads as an unpromoted deploy of the old version: the lock keeps
// "verified", status says so, and the next run of any operation records the deadline first.
func TestInterruptedAfterVerificationRecordsTheDeadlineNext(t *testing.T) {
	t.Parallel()
	for _, rerun := range []string{"finalize", "deploy", "rollback"} {
		t.Run("rerun "+rerun, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			blueSize := int(f.status().Colors[values.Blue].Current)
			require.Positive(t, blueSize)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f.cfg.Log = func(format string, args ...any) {
				if strings.Contains(fmt.Sprintf(format, args...), "record blue's scale-down deadline") {
					cancel() // Ctrl-C as the step starts: it must not run
				}
			}
			res, err := f.deploy("2.0.0").Run(ctx)
			require.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, "green", f.serviceColor())
			assert.Empty(t, f.value("blue.scaleDownAt"), "the deadline step was interrupted")
			require.NotNil(t, res.Status)
			assert.Equal(t, bluegreen.PhaseVerified, res.Status.Phase)
			for _, n := range res.Status.Next {
				assert.NotContains(t, n, "promote", "blue is the previous version, not one to promote")
			}
			assert.Contains(t, strings.Join(res.Status.Next, "\n"), "finalize")
			require.True(t, f.leaseExists(), "the verified switch stays recorded")

			f.cfg.Log = func(format string, args ...any) { t.Logf(format, args...) }
			switch rerun {
			case "finalize":
				res, err = bluegreen.NewFinalize(f.cfg).Run(context.Background())
				require.NoError(t, err)
				assert.Equal(t, "waiting", res.Outcome, "finalize without --now waits for the deadline it recorded")
			case "deploy":
				res, err = f.deploy("2.0.0").Run(context.Background())
				require.NoError(t, err)
				assert.Equal(t, "unchanged", res.Outcome, "green already serves 2.0.0")
			case "rollback":
				rb := bluegreen.NewRollback(f.cfg)
				fast(&rb.Cutover)
				_, err = rb.Run(context.Background())
				require.NoError(t, err)
				assert.Equal(t, "blue", f.serviceColor(), "rollback went back to the kept previous version")
				assert.Equal(t, 1, countSwitches(f))
				return
			}
			assert.Equal(t, 1, countSwitches(f), "nothing switched again")
			assert.Equal(t, "green", f.serviceColor())
			assert.NotEmpty(t, f.value("blue.scaleDownAt"), "the next run recorded the deadline")
			assert.Equal(t, blueSize, countInt(f, "blue.replicas"), "blue is kept at full size for a rollback")
			assert.Equal(t, bluegreen.PhaseRollbackReady, f.status().Phase)
			assert.False(t, f.leaseExists(), "nothing is left to resume")
		})
	}
}

func countInt(f *fixture, path string) int {
	switch v := f.value(path).(type) {
	case int:
		return v
	case int64:
		return int(v)
	case float64:
		return int(v)
	}
	return -1
}

// A run that loses its lease (another run took it while this one could not renew) stops before
// its next step, says it lost the lock, and leaves the lease to the run that holds it now.
func TestARunThatLosesItsLeaseStopsBeforeItsNextStep(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	var once sync.Once
	f.cl.Respond = func(p fakecluster.Probe) (int, bool) {
		if p.Color == "green" && p.Active == "blue" {
			once.Do(func() { f.holdLease("thief@host pid 666", "deploy") })
		}
		return 0, false
	}
	d := f.deploy("2.0.0")
	d.Gates.Passes, d.Gates.GateTimeout = 100000, time.Minute // a gate that outlasts the lease
	began := time.Now()
	res, err := d.Run(context.Background())
	require.ErrorIs(t, err, bluegreen.ErrLocked)
	assert.Contains(t, err.Error(), "lost lease prod/bluegreen-ai-assistant")
	assert.Equal(t, "locked", res.Outcome)
	assert.Less(t, time.Since(began), 30*time.Second, "stopped within the renew deadline, not at the gate's timeout")
	assert.Equal(t, "blue", f.serviceColor(), "no switch after the lease was lost")
	assert.Equal(t, 0, countSwitches(f))
	l, err := f.cl.Kube.CoordinationV1().Leases(testNS).Get(context.Background(), "bluegreen-"+testRelease, metav1.GetOptions{})
	require.NoError(t, err, "the lease the other run holds is not deleted")
	assert.Equal(t, "thief@host pid 666", *l.Spec.HolderIdentity)
}
