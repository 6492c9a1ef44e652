package bluegreen_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
)

// podTemplate returns a colour's live pod template as JSON-ish text, to tell whether it rolled.
func (f *fixture) podTemplate(color string) string {
	f.t.Helper()
	d, err := f.cl.Kube.AppsV1().Deployments(testNS).Get(context.Background(), testRelease+"-"+color, metav1.GetOptions{})
	require.NoError(f.t, err)
	return d.Spec.Template.String()
}

func (f *fixture) deployValues(vals map[string]any) *bluegreen.Deploy {
	d := f.deploy("")
	d.Values = vals
	return d
}

// TestDeploySetStagesTheChangeUnderTheIdleColourOnly: a config and a resources change go to
// green through the gates; blue's block and live pod template never change, green starts
// from blue's snapshot, and rollback returns to blue's snapshot exactly.
func TestDeploySetStagesTheChangeUnderTheIdleColourOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	blueBefore := f.podTemplate("blue")

	res, err := f.deployValues(map[string]any{
		"config":    map[string]any{"DEFAULT_MODEL": "gpt-4o-mini"},
		"resources": map[string]any{"limits": map[string]any{"cpu": "2"}},
	}).Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "done", res.Outcome)
	assert.Equal(t, "green", f.serviceColor())

	// The switch moved the shared block to what green runs; blue keeps what differs.
	assert.Equal(t, "gpt-4o-mini", f.value("config.DEFAULT_MODEL"))
	assert.Equal(t, "2", f.value("resources.limits.cpu"))
	assert.Equal(t, "512Mi", f.value("resources.requests.memory"), "a replaced key is merged over what blue ran, like a values file")
	assert.Nil(t, f.value("green.config"), "green, serving, keeps no keys of its own")
	assert.Nil(t, f.value("green.resources"))
	assert.Equal(t, "deepseek-chat", f.value("blue.config.DEFAULT_MODEL"), "blue keeps its old model")
	assert.Equal(t, "1000m", f.value("blue.resources.limits.cpu"))
	assert.Equal(t, blueBefore, f.podTemplate("blue"), "blue's pods never rolled, neither at the deploy nor at the switch")
	assert.Equal(t, []string{"resources", "config.DEFAULT_MODEL"}, f.status().Differs, "status names what differs")
	greenAfter := f.podTemplate("green")

	_, err = f.rollback().Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "blue", f.serviceColor())
	assert.Equal(t, blueBefore, f.podTemplate("blue"), "rollback returns to blue's snapshot exactly")
	assert.Equal(t, greenAfter, f.podTemplate("green"), "the switch back rolls no green pod either")
	assert.Nil(t, f.value("config.DEFAULT_MODEL"), "the shared block is blue's again: the chart's default model")
	assert.Equal(t, "gpt-4o-mini", f.value("green.config.DEFAULT_MODEL"))
}

// TestANewDeployStartsFromWhatServes: the idle colour's block is reset to the serving
// colour's before the change is laid over it, so nothing an earlier cutover left there leaks
// into the new snapshot, and the values hold at most one entry per key per colour.
func TestANewDeployStartsFromWhatServes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	_, err := f.deployValues(map[string]any{"config": map[string]any{"MAX_TOKENS": "8192"}}).Run(context.Background())
	require.NoError(t, err)
	_, err = f.rollback().Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, "blue", f.serviceColor())
	require.Equal(t, "8192", f.value("green.config.MAX_TOKENS"), "green keeps the rolled-back snapshot until the next deploy")
	require.Nil(t, f.value("config.MAX_TOKENS"), "the shared block is blue's again")

	d := f.deployValues(map[string]any{"config": map[string]any{"LOG_LEVEL": "DEBUG"}})
	d.Tag = "2.0.0"
	_, err = d.Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "DEBUG", f.value("config.LOG_LEVEL"), "green serves with the new key, now the shared block's")
	assert.Nil(t, f.value("config.MAX_TOKENS"), "the stale MAX_TOKENS never reached the new snapshot")
	assert.Nil(t, f.value("blue.config.MAX_TOKENS"))
	assert.Equal(t, "INFO", f.value("blue.config.LOG_LEVEL"), "blue keeps what it ran")
	assert.Equal(t, "2.0.0", f.value("green.image.tag"))
}

// TestDeployRefusesValuesThatAreNotASnapshot: every bad --set or -f exits with bad input
// naming the key, and changes nothing.
func TestDeployRefusesValuesThatAreNotASnapshot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"unknown key", map[string]any{"replicaz": 3}, `unknown key "replicaz"`},
		{"key that does not shape pods", map[string]any{"service": map[string]any{"type": "NodePort"}}, `key "service" does not shape a colour's pods`},
		{"colour key", map[string]any{"green": map[string]any{"config": map[string]any{"X": "1"}}}, `give the shared key's name`},
		{"image key a colour lacks", map[string]any{"image": map[string]any{"registry": "r"}}, `"image.registry"`},
		{"value the schema rejects", map[string]any{"config": map[string]any{"MAX_TOKENS": "lots"}}, "/green/config/MAX_TOKENS"},
		{"wrong Kubernetes type", map[string]any{"securityContext": map[string]any{"readOnlyRootFilesystem": "true"}}, "/green/securityContext"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			revision := f.rel().Version
			res, err := f.deployValues(tc.vals).Run(context.Background())
			require.ErrorIs(t, err, bluegreen.ErrBadInput)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, "bad-input", res.Outcome)
			assert.Equal(t, revision, f.rel().Version, "no upgrade was made")
			assert.False(t, f.leaseExists(), "no lock is left behind")
		})
	}
}
