//go:build apiserver

package realapi_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/cli"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/leasetest"
)

// TestCutoverOnRealAPIServer runs the cutover's operations against one control plane shared by
// the cases, each with its own release in its own namespace.
func TestCutoverOnRealAPIServer(t *testing.T) {
	c := startCluster(t)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, c *cluster)
	}{
		{"every operation end to end", testEveryOperation},
		{"replicas Helm's patch drops, with real autoscalers", testReplicasWithAutoscalers},
		{"an upgrade made during the gate is kept", testUpgradeDuringGate},
		{"the lock", testLock},
		// Found by this suite and since fixed (gate 36910e9, lease 5981fff).
		{"a healthy switch is not reverted by the round its verify deadline cuts short", testNoRevertAtVerifyDeadline},
		{"a killed run's lease that records a longer duration is taken over after it", testKilledRunsLongerLease},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, c)
		})
	}
}

// testEveryOperation runs deploy, rollback, finalize, a deploy whose gate fails then promote,
// and a deploy whose gate fails then abort, with status read between each: the phases, the
// Service's selector and the endpoints the real endpointslice controller wrote must follow.
func testEveryOperation(t *testing.T, c *cluster) {
	r := newRelease(t, c, values(nil))
	r.requirePhase(phaseStable, "blue")
	r.requireScaledToZero("green")

	res, err := r.deploy("2.0.0")
	require.NoError(t, err, "deploy 2.0.0: %+v", res)
	r.requirePhase(phaseRollbackReady, "green")
	r.requireServing("green", "2.0.0")
	r.waitAvailable("blue", 2) // kept at full size for a rollback

	res, err = r.rollback()
	require.NoError(t, err, "rollback: %+v", res)
	r.requirePhase(phaseRollbackReady, "blue")
	r.requireServing("blue", "1.0.0")

	res, err = r.finalizeNow()
	require.NoError(t, err, "finalize: %+v", res)
	r.requirePhase(phaseStable, "blue")
	r.requireScaledToZero("green")

	// 3.0.0 answers /health with 503: the gate fails, traffic stays, green stays up to inspect.
	r.app.fail("3.0.0", "/health")
	res, err = r.deploy("3.0.0")
	require.ErrorIs(t, err, bluegreen.ErrGateFailed, "deploy 3.0.0 with a failing /health: %+v", res)
	r.requirePhase(phasePreview, "blue")
	r.requireServing("blue", "1.0.0")
	r.waitAvailable("green", 2)

	r.app.heal("3.0.0")
	res, err = r.promote()
	require.NoError(t, err, "promote 3.0.0 once healthy: %+v", res)
	r.requirePhase(phaseRollbackReady, "green")
	r.requireServing("green", "3.0.0")

	res, err = r.finalizeNow()
	require.NoError(t, err, "finalize: %+v", res)
	r.requirePhase(phaseStable, "green")
	r.requireScaledToZero("blue")

	r.app.fail("4.0.0", "/health")
	res, err = r.deploy("4.0.0")
	require.ErrorIs(t, err, bluegreen.ErrGateFailed, "deploy 4.0.0 with a failing /health: %+v", res)
	r.requirePhase(phasePreview, "green")

	res, err = r.abort()
	require.NoError(t, err, "abort: %+v", res)
	r.requirePhase(phaseStable, "green")
	r.requireScaledToZero("blue")
	r.requireServing("green", "3.0.0")
}

// testReplicasWithAutoscalers follows spec.replicas through a cutover, a finalize and a
// rollback with autoscaling on. The chart renders replicas: 0 for a colour at zero and no
// spec.replicas (and an autoscaler) for a running one, so Helm's three-way patch removes the
// field when a colour scales up; the API server then defaults it to 1 and only the real
// autoscaler brings it to the values' count. A colour at zero has no autoscaler: a real one
// would be disabled there, and would scale it up the moment anything set it to 1.
func testReplicasWithAutoscalers(t *testing.T, c *cluster) {
	r := newRelease(t, c, values(map[string]any{"autoscaling": map[string]any{"enabled": true, "minReplicas": 2, "maxReplicas": 4}}))
	r.requireAutoscaled("blue", 2)
	r.requireScaledToZero("green")
	r.requirePhase(phaseStable, "blue")

	green := r.recordReplicas("green")
	res, err := r.deploy("2.0.0")
	require.NoError(t, err, "deploy 2.0.0: %+v", res)
	r.requirePhase(phaseRollbackReady, "green")
	r.requireAutoscaled("green", 2)
	r.requireAutoscaled("blue", 2) // pinned for a rollback
	require.Equal(t, []int32{0, 1, 2}, green.values(r, "green"),
		"green's spec.replicas: Helm's patch dropped the field (the API server defaulted it to 1), then its autoscaler raised it to minReplicas")

	res, err = r.finalizeNow()
	require.NoError(t, err, "finalize: %+v", res)
	r.requirePhase(phaseStable, "green")
	r.requireScaledToZero("blue")
	// green's replicas were handed back to autoscaling.minReplicas: the same 2, not a default.
	r.requireAutoscaled("green", 2)
	require.Equal(t, []int32{0, 1, 2}, green.values(r, "green"), "finalize must not touch green's spec.replicas")

	blue := r.recordReplicas("blue")
	res, err = r.rollback()
	require.NoError(t, err, "rollback to blue (scaled up from zero): %+v", res)
	r.requirePhase(phaseRollbackReady, "blue")
	r.requireServing("blue", "1.0.0")
	r.requireAutoscaled("blue", 2)
	r.requireAutoscaled("green", 2)
	require.Equal(t, []int32{0, 1, 2}, blue.values(r, "blue"), "blue's spec.replicas on its way back up")
}

// testUpgradeDuringGate makes a `helm upgrade --reuse-values --set config.LOG_LEVEL=DEBUG`
// while the deploy's gate probes green (it runs inside the gate's first probe of a green pod):
// the cutover's next write finds a revision it did not read, reads again, and what the upgrade
// set is still in the release when the cutover is done.
func testUpgradeDuringGate(t *testing.T, c *cluster) {
	r := newRelease(t, c, values(nil))
	var once sync.Once
	upgraded := make(chan error, 1)
	r.app.setOnProbe(func(kind, _, _ string, p *corev1.Pod) {
		if kind == "pod" && p != nil && p.Labels["color"] == "green" {
			once.Do(func() {
				upgraded <- r.upgradeReusingValues("config.LOG_LEVEL=DEBUG", map[string]any{"config": map[string]any{"LOG_LEVEL": "DEBUG"}})
			})
		}
	})

	d := bluegreen.NewDeploy(r.cfg)
	d.Tag = "2.0.0"
	fast(&d.Cutover)
	d.Gates.GateTimeout = time.Minute // the upgrade runs inside the gate's first probe, on its clock
	res, err := d.Run(context.Background())
	select {
	case uerr := <-upgraded:
		require.NoError(t, uerr, "helm upgrade --reuse-values during the gate")
	default:
		require.FailNow(t, "the gate never probed a green pod, so no upgrade was made during it")
	}
	require.NoError(t, err, "deploy 2.0.0 with an upgrade during its gate: %+v", res)
	assert.Contains(t, r.logged(), "read it again", "the cutover's write after the upgrade must say it read the release again")
	r.requirePhase(phaseRollbackReady, "green")
	r.requireServing("green", "2.0.0")

	vals, err := action.NewGetValues(r.helm).Run(releaseName)
	require.NoError(t, err, "helm get values")
	cfg, _ := vals["config"].(map[string]any)
	require.Equal(t, "DEBUG", cfg["LOG_LEVEL"], "the upgrade's config.LOG_LEVEL was undone by the cutover; values now: %v", vals)
}

// testLock races two runs on the real Lease (optimistic concurrency on its resourceVersion),
// then has a live holder refuse a run, and a holder that stopped renewing (killed) be taken
// over after the lease duration.
func testLock(t *testing.T, c *cluster) {
	r := newRelease(t, c, values(nil))
	leases := c.Client.CoordinationV1().Leases(r.ns)
	lease := "bluegreen-" + releaseName

	t.Run("two runs at once: one deploys, the other is refused naming it", func(t *testing.T) {
		r := r.with(t)
		// A second command: its own clients and Helm configuration, the same test settings.
		other, err := cli.ConnectCluster(&cli.Global{Kubeconfig: c.Kubeconfig, Namespace: r.ns}, releaseName, io.Discard)
		require.NoError(t, err)
		other.Prober, other.Log, other.PollInterval = r.cfg.Prober, r.cfg.Log, r.cfg.PollInterval
		other.ConvergeTimeout, other.LeaseDuration = r.cfg.ConvergeTimeout, r.cfg.LeaseDuration
		other.Holder = "second run@realapi pid 2"
		type outcome struct {
			holder string
			err    error
		}
		out := make(chan outcome, 2)
		var start sync.WaitGroup
		start.Add(1)
		for _, cfg := range []*bluegreen.Configuration{r.cfg, other} {
			go func() {
				d := bluegreen.NewDeploy(cfg)
				d.Tag = "2.0.0"
				fast(&d.Cutover)
				// The run that loses refuses once it has seen the winner renew (every tenth of
				// the lease duration): the winner holds the lease for half a duration at least,
				// or it could finish before the other has seen a renewal, and then deploy too.
				d.Gates.VerifyFor = cfg.LeaseDuration / 2
				start.Wait()
				_, err := d.Run(context.Background())
				out <- outcome{cfg.Holder, err}
			}()
		}
		start.Done()
		a, b := <-out, <-out
		if a.err != nil {
			a, b = b, a
		}
		require.NoError(t, a.err, "one run deploys")
		require.ErrorIs(t, b.err, bluegreen.ErrLocked, "the other is refused")
		assert.Contains(t, b.err.Error(), a.holder, "the refusal names the run that holds the lock")
		r.requirePhase(phaseRollbackReady, "green")
		res, err := r.finalizeNow()
		require.NoError(t, err, "finalize: %+v", res)
		r.requirePhase(phaseStable, "green")
	})

	t.Run("a live holder refuses a run and status names it", func(t *testing.T) {
		r := r.with(t)
		before := r.status().Revision
		leasetest.Hold(t, leases, lease, "other-run@ci pid 42", "deploy")
		res, err := r.deploy("3.0.0")
		require.ErrorIs(t, err, bluegreen.ErrLocked, "deploy while another run holds the lease: %+v", res)
		assert.Contains(t, err.Error(), "other-run@ci pid 42")
		s := r.requirePhase(phaseStable, "green")
		assert.Equal(t, before, s.Revision, "a refused run changes nothing")
		require.NotNil(t, s.Lock, "status shows the lock")
		assert.Equal(t, "other-run@ci pid 42", s.Lock.Holder)
		assert.True(t, s.Lock.Held)
	})

	t.Run("a killed holder's lease is taken over after the lease duration", func(t *testing.T) {
		r := r.with(t)
		t.Run("the run that is killed", func(t *testing.T) {
			// Its renewals stop when this subtest ends: a run killed -9 between two renewals.
			leasetest.Hold(t, leases, lease, "killed-run@ci pid 43", "deploy")
		})
		// A killed run of the command records its --lease-duration; leasetest writes 30 s.
		l, err := leases.Get(context.Background(), lease, metav1.GetOptions{})
		require.NoError(t, err)
		l.Spec.LeaseDurationSeconds = ptr.To(int32(r.cfg.LeaseDuration / time.Second))
		_, err = leases.Update(context.Background(), l, metav1.UpdateOptions{})
		require.NoError(t, err, "record the killed run's lease duration")
		began := time.Now()
		res, err := r.deploy("3.0.0")
		require.NoError(t, err, "deploy after the holder stopped renewing: %+v", res)
		assert.GreaterOrEqual(t, time.Since(began), r.cfg.LeaseDuration, "the lease was taken before it had gone a lease duration without renewal")
		assert.Contains(t, r.logged(), "killed-run@ci pid 43", "the run says whose lease it waited for")
		r.requirePhase(phaseRollbackReady, "blue")
		r.requireServing("blue", "3.0.0")
		_, err = leases.Get(context.Background(), lease, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "the finished run deletes its lease, got %v", err)
	})
}

// testNoRevertAtVerifyDeadline: client-go's rate limiter, which the fake clientset of the unit
// tests does not have, fails a request made after its context's deadline has passed by the
// clock but before the context's timer has fired (ctx.Err() still nil) with "rate: Wait(n=1)
// would exceed context deadline". The post-switch soak's rounds, paced by --gate-interval, meet
// the --verify-for deadline exactly when one is a multiple of the other (the defaults: 2 s and
// 30 s); the soak took that refusal for a failed round, and under --failure-limit 0 reverted a
// healthy switch (ErrReverted, "list the targets: get deployment ...: client rate limiter Wait
// returned an error"). The pre-switch gate could name that request instead of the check that
// failed. Each cutover here met it with about even odds: four in a row all passed only once in
// 16 times with the bug.
func testNoRevertAtVerifyDeadline(t *testing.T, c *cluster) {
	r := newRelease(t, c, values(nil))
	strict := func(cut *bluegreen.Cutover) {
		fast(cut)
		cut.Gates.FailureLimit = 0
	}
	d := bluegreen.NewDeploy(r.cfg)
	d.Tag = "2.0.0"
	strict(&d.Cutover)
	res, err := d.Run(context.Background())
	require.NoError(t, err, "deploy 2.0.0 with --failure-limit 0: %+v", res)
	for i, to := range []string{"blue", "green", "blue"} {
		rb := bluegreen.NewRollback(r.cfg)
		strict(&rb.Cutover)
		res, err := rb.Run(context.Background())
		require.NoError(t, err, "rollback %d (to %s) with --failure-limit 0: %+v", i+1, to, res)
		r.requirePhase(phaseRollbackReady, to)
	}
}

// testKilledRunsLongerLease: client-go's elector, which the lock runs on, holds a lease valid
// for the duration its holder recorded (spec.leaseDurationSeconds), not for this run's. The lock
// used to give up after twice its own duration plus a retry (6.3 s here), so a killed run that
// recorded a longer one (the command's default 30 s; leasetest's 30 s here) blocked a run with
// a shorter --lease-duration, refused with ErrLocked saying the dead holder "is running deploy".
// Now it waits out the recorded duration, and says so.
func testKilledRunsLongerLease(t *testing.T, c *cluster) {
	r := newRelease(t, c, values(nil))
	t.Run("the run that is killed", func(t *testing.T) {
		// Its renewals stop when this subtest ends; its lease records 30 s.
		leasetest.Hold(t, c.Client.CoordinationV1().Leases(r.ns), "bluegreen-"+releaseName, "killed-run@ci pid 44", "deploy")
	})
	began := time.Now()
	res, err := r.deploy("2.0.0")
	require.NoError(t, err, "a lease nobody renews must be taken over, whatever duration its dead holder recorded (this run's is %s): %+v", r.cfg.LeaseDuration, res)
	assert.GreaterOrEqual(t, time.Since(began), 30*time.Second, "taken over before the holder's recorded 30 s had passed without a renewal")
	assert.Contains(t, r.logged(), "held by killed-run@ci pid 44 (deploy): taken over if it is not renewed for 30s")
	r.requirePhase(phaseRollbackReady, "green")
}
