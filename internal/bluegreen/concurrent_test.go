package bluegreen_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/strvals"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/fakecluster"
)

// userUpgrade is what a person or CI runs beside the command:
// `helm upgrade --reuse-values --set <set>` with the release's own chart.
func (f *fixture) userUpgrade(set string) error {
	vals, err := strvals.Parse(set)
	if err != nil {
		return err
	}
	u := action.NewUpgrade(f.cl.Helm)
	u.Namespace = testNS
	u.ReuseValues = true
	_, err = u.Run(testRelease, f.rel().Chart, vals)
	return err
}

// TestAnUpgradeDuringTheGateIsNeverUndone: a `helm upgrade --reuse-values --set` made while
// the gate runs lands a revision the command did not read. The switch then reads the release
// again and writes only its own change over it, and says so: the value survives the switch,
// the scale-down deadline and all.
func TestAnUpgradeDuringTheGateIsNeverUndone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	logged := f.captureLog()
	var (
		once sync.Once
		uerr error
	)
	f.cl.Respond = func(p fakecluster.Probe) (int, bool) {
		if p.Active == "blue" && p.Color == "green" {
			once.Do(func() { uerr = f.userUpgrade("service.annotations.team=ai,podDisruptionBudget.maxUnavailable=2") })
		}
		return 0, false
	}
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)
	require.NoError(t, uerr, "the user's upgrade")

	assert.Equal(t, "green", f.serviceColor())
	assert.Equal(t, "ai", f.value("service.annotations.team"), "the user's value survived the switch")
	assert.EqualValues(t, 2, f.value("podDisruptionBudget.maxUnavailable"))
	assert.Contains(t, f.history(), "Upgrade complete", "the user's revision is in the history")
	assert.Contains(t, logged(), `revision 3 of release ai-assistant ("Upgrade complete") appeared since revision 2 was read: read it again; applying only`)
}

// TestAPodReplacedAfterTheSwitchIsNoReasonToSwitchBack: a pod of the new colour that a node
// drain or a rollout replaces while the post-switch check runs is not probed once gone, and its
// replacement is: the cutover stands. (Probing the gone pod failed, and switched back.)
func TestAPodReplacedAfterTheSwitchIsNoReasonToSwitchBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	var (
		once     sync.Once
		replaced string
		rerr     error
	)
	f.cl.Respond = func(p fakecluster.Probe) (int, bool) {
		if p.Active == "green" && p.Kind == "pod" && p.Color == "green" {
			once.Do(func() { replaced, rerr = f.replacePod(p.Name) })
		}
		return 0, false
	}
	d := f.deploy("2.0.0")
	d.Gates.VerifyFor = 200 * time.Millisecond
	_, err := d.Run(context.Background())
	require.NoError(t, rerr)
	require.NoError(t, err, "the cutover stands")
	assert.Equal(t, "green", f.serviceColor())
	probed := false
	for _, p := range f.cl.Probes() {
		probed = probed || p.Name == replaced
	}
	assert.True(t, probed, "the replacement pod %s was probed", replaced)
}

// replacePod deletes a pod and creates a Ready copy under a new name, as a ReplicaSet does
// after an eviction.
func (f *fixture) replacePod(name string) (string, error) {
	ctx := context.Background()
	pods := f.cl.Kube.CoreV1().Pods(testNS)
	p, err := pods.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return "", err
	}
	p.Name, p.ResourceVersion, p.UID = name+"-replaced", "", ""
	created, err := pods.Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	created.Status = p.Status
	_, err = pods.UpdateStatus(ctx, created, metav1.UpdateOptions{})
	return created.Name, err
}
