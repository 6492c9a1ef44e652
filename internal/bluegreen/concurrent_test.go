package bluegreen_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/strvals"

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
	var (
		mu   sync.Mutex
		logs []string
		once sync.Once
		uerr error
	)
	f.cfg.Log = func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		logs = append(logs, fmt.Sprintf(format, args...))
	}
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
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, strings.Join(logs, "\n"), `revision 3 of release ai-assistant ("Upgrade complete") appeared since revision 2 was read: read it again; applying only`)
}
