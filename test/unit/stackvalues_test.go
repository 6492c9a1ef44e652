package unit

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stack"
)

// The values every integration test and the demo install with drop the seed's 10 s startup
// delay: a pod that answers at once is Ready about 5 s after it starts (the readiness probe's
// delay, kept), not 11 s.
func TestTheClusterTestValuesProbeWithoutTheSeedsDelays(t *testing.T) {
	b, err := yaml.Marshal(stack.Values(stack.Dependencies{
		DatabaseURL: "postgres://app:secret@postgres:5432/app", RedisURL: "redis://redis:6379/0", LLMBaseURL: "http://llm-standin:8080/v1",
	}, "v1.0.0"))
	require.NoError(t, err)
	vals := map[string]any{}
	require.NoError(t, yaml.Unmarshal(b, &vals), "as helm -f reads it")
	r := render(t, vals)
	for _, colour := range []string{"blue", "green"} {
		c := get[*appsv1.Deployment](t, r, "ai-assistant-"+colour).Spec.Template.Spec.Containers[0]
		require.NotNil(t, c.StartupProbe)
		require.NotNil(t, c.ReadinessProbe)
		assert.Zero(t, c.StartupProbe.InitialDelaySeconds, "%s startup probe", colour)
		assert.EqualValues(t, 1, c.StartupProbe.PeriodSeconds, "%s startup probe", colour)
		assert.EqualValues(t, 5, c.ReadinessProbe.InitialDelaySeconds, "%s readiness probe: the seed's delay, kept", colour)
	}
}
