package bluegreen_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/fakecluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/release"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

func TestBadInputIsRefusedBeforeAnythingChanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		release string
		tag     string
		digest  string
		require bool
		want    string
	}{
		{name: "unknown release", release: "nope", tag: "2.0.0", want: `release "nope" not found in namespace "prod"`},
		{name: "missing tag", want: "nothing to deploy"},
		{name: "malformed tag", tag: "2.0.0 beta", want: "not a valid tag"},
		{name: "malformed digest", digest: "sha256:xyz", want: "not sha256:<64 hex>"},
		{name: "image on no node, required there", tag: "9.9.9", require: true, want: "image ai-assistant:9.9.9 is on none of the 1 nodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			if tc.release != "" {
				f.cfg.Release = tc.release
				f.cfg.Store = release.NewHelmStore(f.cl.Helm, tc.release, testNS)
			}
			revision := f.rel().Version
			d := f.deploy(tc.tag)
			d.Digest = tc.digest
			d.RequireImageOnNode = tc.require
			res, err := d.Run(context.Background())
			require.ErrorIs(t, err, bluegreen.ErrBadInput)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, "bad-input", res.Outcome)
			assert.Equal(t, revision, f.rel().Version, "no upgrade was made")
			assert.False(t, f.leaseExists(), "no lock is left behind")
		})
	}
	_, err := values.ParseColor("purple")
	require.ErrorIs(t, err, bluegreen.ErrBadInput)
}

func TestFinalizeWaitsForTheDeadline(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]any{"autoscaling": map[string]any{"enabled": false}})
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)
	revision := f.rel().Version

	res, err := bluegreen.NewFinalize(f.cfg).Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "waiting", res.Outcome, "the deadline has not passed")
	assert.Equal(t, revision, f.rel().Version)

	f.advance(10*time.Minute - time.Second)
	res, err = bluegreen.NewFinalize(f.cfg).Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "waiting", res.Outcome, "one second before the deadline")

	f.advance(time.Second)
	res, err = bluegreen.NewFinalize(f.cfg).Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "done", res.Outcome)
	assert.EqualValues(t, 0, f.value("blue.replicas"))
	assert.Empty(t, f.value("blue.scaleDownAt"))
	assert.Nil(t, f.value("green.replicas"), "green's parity pin equals replicaCount and is handed back")
	s := f.status()
	assert.Equal(t, bluegreen.PhaseStable, s.Phase)
	assert.EqualValues(t, 0, s.Colors[values.Blue].Current)
	assert.EqualValues(t, 3, s.Colors[values.Green].Ready)

	revision = f.rel().Version
	res, err = bluegreen.NewFinalize(f.cfg).Run(context.Background())
	require.NoError(t, err, "finalize is idempotent, for cron")
	assert.Equal(t, "unchanged", res.Outcome)
	assert.Equal(t, revision, f.rel().Version)
}

func TestFinalizeNowIgnoresTheDeadline(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)
	fin := bluegreen.NewFinalize(f.cfg)
	fin.Now = true
	_, err = fin.Run(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 0, f.value("blue.replicas"))
	assert.Nil(t, f.value("green.replicas"), "with autoscaling the HPA owns green's size again")
	hpa := f.status().Colors[values.Green].HPA
	require.NotNil(t, hpa)
	assert.EqualValues(t, 3, hpa.Min)
	assert.Nil(t, f.status().Colors[values.Blue].HPA, "a colour at zero has no HPA")
}

// TestDeployWithWaitBlocksThenFinalizes: --wait holds the run at the scale-down deadline,
// with blue kept for a rollback, until the clock passes it; then it scales blue down.
func TestDeployWithWaitBlocksThenFinalizes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	d := f.deploy("2.0.0")
	d.Wait = true
	d.ScaleDownDelay = 10 * time.Minute
	done := make(chan error, 1)
	go func() {
		_, err := d.Run(context.Background())
		done <- err
	}()
	// The run waits on the clock only at the deadline: a timer is then pending.
	require.Eventually(t, f.clk.HasWaiters, 30*time.Second, 5*time.Millisecond, "the run reaches the deadline wait")
	assert.Equal(t, "green", f.serviceColor())
	assert.Equal(t, bluegreen.PhaseRollbackReady, f.status().Phase, "blue is kept while the run waits")
	assert.NotEqualValues(t, 0, f.value("blue.replicas"))
	select {
	case err := <-done:
		t.Fatalf("the run returned before its deadline: %v", err)
	default:
	}

	for range 10 { // the countdown wakes once a minute
		require.Eventually(t, f.clk.HasWaiters, 30*time.Second, 5*time.Millisecond)
		f.advance(time.Minute)
	}
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not finalize once the deadline passed")
	}
	assert.EqualValues(t, 0, f.value("blue.replicas"))
	assert.Equal(t, bluegreen.PhaseStable, f.status().Phase)
}

func TestPromoteAndAbortAfterAFailedGate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.cl.Respond = func(p fakecluster.Probe) (int, bool) { return 503, p.Color == "green" && p.Path == "/ready" }
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.ErrorIs(t, err, bluegreen.ErrGateFailed)

	// The fix lands (a dependency recovers): promote goes through the same gates.
	f.cl.Respond = nil
	p := bluegreen.NewPromote(f.cfg)
	fast(&p.Cutover)
	_, err = p.Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "green", f.serviceColor())

	_, err = p.Run(context.Background())
	require.ErrorIs(t, err, bluegreen.ErrBadInput, "blue is the previous version now")
	assert.Contains(t, err.Error(), "use rollback")
	_, err = bluegreen.NewAbort(f.cfg).Run(context.Background())
	require.ErrorIs(t, err, bluegreen.ErrBadInput, "no deploy is in progress")
}

func TestAbortScalesTheIdleColourDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.cl.NotReady["green"] = true
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.ErrorIs(t, err, bluegreen.ErrGateFailed)

	res, err := bluegreen.NewAbort(f.cfg).Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "done", res.Outcome)
	assert.EqualValues(t, 0, f.value("green.replicas"))
	assert.Equal(t, "blue", f.serviceColor())
	res, err = bluegreen.NewAbort(f.cfg).Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "unchanged", res.Outcome)
}

func TestAbortAfterAnUnverifiedSwitchSwitchesBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := interruptWhen(f, func(p fakecluster.Probe) bool { return p.Active == "green" })
	_, err := f.deploy("2.0.0").Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	f.cl.Respond = nil

	_, err = bluegreen.NewAbort(f.cfg).Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "blue", f.serviceColor())
	assert.EqualValues(t, 0, f.value("green.replicas"))
	assert.False(t, f.leaseExists())
	assert.Equal(t, bluegreen.PhaseStable, f.status().Phase)
}

func TestRollbackReturnsToThePreviousColour(t *testing.T) {
	t.Parallel()
	for _, finalized := range []bool{false, true} {
		name := "within the rollback window"
		if finalized {
			name = "after finalize scaled it to zero"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			f.cl.HPALoad["blue"] = 5
			require.NoError(t, f.cl.Reconcile())
			_, err := f.deploy("2.0.0").Run(context.Background())
			require.NoError(t, err)
			if finalized {
				fin := bluegreen.NewFinalize(f.cfg)
				fin.Now = true
				_, err = fin.Run(context.Background())
				require.NoError(t, err)
				f.cl.HPALoad["green"] = 4
				require.NoError(t, f.cl.Reconcile())
			}
			rb := bluegreen.NewRollback(f.cfg)
			fast(&rb.Cutover)
			_, err = rb.Run(context.Background())
			require.NoError(t, err)
			assert.Equal(t, "blue", f.serviceColor())
			s := f.status()
			assert.Equal(t, "ai-assistant:1.0.0", s.Colors[values.Blue].LiveImage, "the previous version serves again")
			assert.Equal(t, bluegreen.PhaseRollbackReady, s.Phase)
			assert.NotNil(t, f.value("green.scaleDownAt"))
			if finalized {
				assert.EqualValues(t, 4, f.value("blue.replicas"), "scaled back up to green's current size first")
			} else {
				assert.EqualValues(t, 5, f.value("blue.replicas"))
			}
		})
	}
}

func TestAPIErrorsAreReportedAndChangeNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.cfg.LeaseDuration = time.Second // the lock reports a failing API after twice this
	f.cl.Kube.PrependReactor("create", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("etcdserver: request timed out")
	})
	revision := f.rel().Version
	res, err := f.deploy("2.0.0").Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "create lease bluegreen-ai-assistant: etcdserver: request timed out")
	assert.Equal(t, "failed", res.Outcome)
	assert.Equal(t, revision, f.rel().Version)
}

func TestFailedUpgradeStopsBeforeTheSwitch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.cl.FailNext(fakecluster.Failure{Err: errors.New("admission webhook denied the request")})
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "helm upgrade ai-assistant") && strings.Contains(err.Error(), "admission webhook denied"), err.Error())
	assert.Equal(t, "blue", f.serviceColor())
	assert.False(t, f.leaseExists())
}

func TestAFailedUpgradeLeavesTheDeployedValuesInCharge(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.cl.FailNext(fakecluster.Failure{Err: errors.New("admission webhook denied the request")})
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.Error(t, err)
	assert.Equal(t, "failed", f.rel().Info.Status.String())
	assert.Equal(t, bluegreen.PhaseStable, f.status().Phase, "the failed revision's values were never live")

	_, err = f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err, "the next run starts from the deployed revision")
	assert.Equal(t, "green", f.serviceColor())
}

// An upgrade can patch the Service and then fail on another object. The release then keeps
// the previous values while traffic runs on the new colour: the command must read that, not
// the values, and put traffic back.
func TestASwitchUpgradeThatFailsHalfwayIsSwitchedBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	d := f.deploy("2.0.0")
	upgradesBefore := len(f.history())
	f.cfg.Log = func(format string, args ...any) {
		// Fail the switch's upgrade after it applied: the step's first line is logged just
		// before the upgrade starts.
		if strings.HasPrefix(format, "==> %s") && strings.HasPrefix(fmt.Sprint(args...), "switch service") {
			f.cl.FailNext(fakecluster.Failure{Err: errors.New(`poddisruptionbudgets "x" is forbidden`), AfterApply: true})
		}
	}
	res, err := d.Run(context.Background())
	require.ErrorIs(t, err, bluegreen.ErrReverted)
	assert.Contains(t, err.Error(), "the switch's upgrade failed after service ai-assistant moved to green")
	assert.Equal(t, "blue", f.serviceColor(), "traffic went back to what the release says")
	assert.Equal(t, "blue", f.value("activeColor"))
	require.NotNil(t, res.Status)
	assert.Equal(t, bluegreen.PhasePreview, res.Status.Phase, "green stays up for inspection, not serving")
	assert.False(t, f.leaseExists(), "nothing is left to resume")
	assert.Greater(t, len(f.history()), upgradesBefore+2, "the switch and the switch back were both upgrades")
}

// When the switch back fails too, status tells the truth: traffic is on green although the
// values say blue, and the next steps are the two that make them agree.
func TestASplitReleaseIsReportedAsItIsAndAbortMendsIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	d := f.deploy("2.0.0")
	f.cfg.Log = func(format string, args ...any) {
		if strings.HasPrefix(format, "==> %s") && strings.HasPrefix(fmt.Sprint(args...), "switch service") {
			f.cl.FailNext(
				fakecluster.Failure{Err: errors.New("the switch: refused halfway"), AfterApply: true},
				fakecluster.Failure{Err: errors.New("the switch back: refused before it applied")})
		}
	}
	res, err := d.Run(context.Background())
	require.ErrorIs(t, err, bluegreen.ErrRevertFailed)
	assert.Equal(t, "green", f.serviceColor(), "the switch back never applied")
	require.NotNil(t, res.Status)
	assert.Equal(t, bluegreen.PhaseSplit, res.Status.Phase, "not preview: traffic runs on green")
	assert.Equal(t, "green", res.Status.Service.Color)
	next := strings.Join(res.Status.Next, "\n")
	assert.Contains(t, next, "abort ai-assistant      # point service ai-assistant back at blue")
	assert.Contains(t, next, "promote ai-assistant    # switch to green")

	f.cfg.Log = func(format string, args ...any) { t.Logf(format, args...) }
	_, err = f.deploy("3.0.0").Run(context.Background())
	require.ErrorIs(t, err, bluegreen.ErrBadInput, "a deploy would roll green while it serves")
	assert.Contains(t, err.Error(), "service ai-assistant selects green while the values name blue")
	assert.Equal(t, "green", f.serviceColor())

	_, err = bluegreen.NewAbort(f.cfg).Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "blue", f.serviceColor())
	s := f.status()
	assert.Equal(t, bluegreen.PhaseStable, s.Phase)
	assert.False(t, f.leaseExists())
}

// A switch whose upgrade fails before it applies leaves traffic where it was, and says so.
func TestASwitchUpgradeThatFailsBeforeApplyingSaysTrafficStayed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	d := f.deploy("2.0.0")
	f.cfg.Log = func(format string, args ...any) {
		if strings.HasPrefix(format, "==> %s") && strings.HasPrefix(fmt.Sprint(args...), "switch service") {
			f.cl.FailNext(fakecluster.Failure{Err: errors.New("admission webhook denied the request")})
		}
	}
	res, err := d.Run(context.Background())
	require.Error(t, err)
	assert.NotErrorIs(t, err, bluegreen.ErrReverted)
	assert.Contains(t, err.Error(), "service ai-assistant stays on blue")
	assert.Equal(t, "blue", f.serviceColor())
	require.NotNil(t, res.Status)
	assert.Equal(t, bluegreen.PhasePreview, res.Status.Phase)
	assert.False(t, f.leaseExists(), "no switch happened, so none is recorded")
}

// TestFinalizeWaitsForStreamsToEnd: chat streams a switch left on blue keep its pods busy; finalize
// scales blue down only once they report none in flight, and says it waited.
func TestFinalizeWaitsForStreamsToEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)
	var mu sync.Mutex
	streams := map[string]int{} // each blue pod ends one stream per /health read, from 3
	f.cl.InFlight = func(p fakecluster.Probe) float64 {
		mu.Lock()
		defer mu.Unlock()
		if p.Color != "blue" {
			return 0
		}
		n, seen := streams[p.Name]
		if !seen {
			n = 3
		} else if n > 0 {
			n--
		}
		streams[p.Name] = n
		return float64(n)
	}
	logged := f.captureLog()
	fin := bluegreen.NewFinalize(f.cfg)
	fin.Now = true
	res, err := fin.Run(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 0, f.value("blue.replicas"))
	assert.Equal(t, "done", stepOutcome(res, "wait for blue's in-flight user requests to end"))
	assert.Contains(t, logged(), "user requests in flight (ai-assistant-blue-")
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, streams)
	for pod, n := range streams {
		assert.Zero(t, n, "pod %s was scaled down with streams open", pod)
	}
}

// A stream that outlasts the bound keeps the old colour up: finalize says why and changes nothing.
func TestFinalizeKeepsAColourThatStillStreams(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)
	f.cl.InFlight = func(p fakecluster.Probe) float64 {
		if p.Color == "blue" {
			return 1
		}
		return 0
	}
	revision := f.rel().Version
	fin := bluegreen.NewFinalize(f.cfg)
	fin.Now, fin.InFlightTimeout = true, 300*time.Millisecond
	_, err = fin.Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "blue still serves user requests, so it was not scaled down")
	assert.Contains(t, err.Error(), "user requests in flight")
	assert.Equal(t, revision, f.rel().Version, "no upgrade")
	assert.Equal(t, bluegreen.PhaseRollbackReady, f.status().Phase, "blue stays up, with its deadline, for the next finalize")
}
