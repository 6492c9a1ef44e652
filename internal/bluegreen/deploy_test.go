package bluegreen_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

func TestDeployCutsOverAndSchedulesScaleDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]any{"replicaCount": 3, "autoscaling": map[string]any{"enabled": false}, "podLabels": map[string]any{"team": "me"}})
	require.Equal(t, "blue", f.serviceColor())
	before := f.rel().Config

	res, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "done", res.Outcome)

	assert.Equal(t, "green", f.value("activeColor"))
	assert.Equal(t, "green", f.serviceColor(), "the Service must select the new colour")
	assert.Equal(t, "2.0.0", f.value("green.image.tag"))
	assert.EqualValues(t, 3, f.value("green.replicas"), "green gets the active colour's size")
	assert.EqualValues(t, 3, f.value("blue.replicas"), "blue is pinned at full size for a rollback")
	assert.Equal(t, f.clock().Add(10*time.Minute).Format(time.RFC3339), f.value("blue.scaleDownAt"))
	assert.Equal(t, "me", f.value("podLabels.team"), "the user's other values are kept")
	assert.Equal(t, "1.0.0", f.value("image.tag"))
	assert.False(t, f.leaseExists(), "a finished run leaves no lock")
	assert.Empty(t, f.cl.OutOfBandWrites(), "every change went through a Helm upgrade, never a patch")

	// helm get values: the user's values, plus exactly the colour keys.
	after := map[string]any{}
	for k, v := range f.rel().Config {
		if k != "activeColor" && k != "blue" && k != "green" {
			after[k] = v
		}
	}
	assert.Equal(t, before, after)

	s := f.status()
	assert.Equal(t, bluegreen.PhaseRollbackReady, s.Phase)
	assert.Equal(t, "ai-assistant:2.0.0", s.Colors[values.Green].LiveImage)
	assert.EqualValues(t, 3, s.Colors[values.Blue].Ready, "the old colour stays at full size")

	hist := strings.Join(f.history(), "\n")
	assert.Contains(t, hist, "bluegreen: prepare green")
	assert.Contains(t, hist, "bluegreen: switch blue -> green")
	assert.Contains(t, hist, "blue kept for rollback until")

	var names []string
	for _, s := range res.Steps {
		names = append(names, s.Name+"="+s.Outcome)
	}
	t.Logf("steps: %v", names)
	require.GreaterOrEqual(t, len(res.Steps), 8)
}

func TestDeployGivesIdleColourTheAutoscaledSize(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]any{"autoscaling": map[string]any{"enabled": true, "minReplicas": 2, "maxReplicas": 10}})
	f.cl.HPALoad["blue"] = 6 // the active colour's autoscaler has grown it past the minimum
	require.NoError(t, f.cl.Reconcile())

	_, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)

	assert.EqualValues(t, 6, f.value("green.replicas"), "parity with what blue runs, not the values' minimum")
	s := f.status()
	require.NotNil(t, s.Colors[values.Green].HPA)
	assert.EqualValues(t, 6, s.Colors[values.Green].HPA.Min)
	assert.EqualValues(t, 6, s.Colors[values.Green].Ready)
}

func TestDeployParityIsCappedAtTheAutoscalerMaximum(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]any{"autoscaling": map[string]any{"enabled": true, "minReplicas": 2, "maxReplicas": 4}})
	f.cl.HPALoad["blue"] = 9
	require.NoError(t, f.cl.Reconcile())
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 4, f.value("green.replicas"))
}

func TestDeployOfTheServingImageChangesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	before := f.rel().Version
	res, err := f.deploy("1.0.0").Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "unchanged", res.Outcome)
	assert.Equal(t, before, f.rel().Version)
}

func TestDeployByDigest(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	d := f.deploy("")
	d.Digest = "sha256:" + strings.Repeat("a", 64)
	_, err := d.Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "ai-assistant@"+d.Digest, f.status().Colors[values.Green].LiveImage)
}
