package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The chart for a values file is the nearest Chart.yaml at or above it inside its repository;
// a chart in the working directory, or above the repository, is never taken for it.
func TestChartBesideTheValuesFile(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	mk := func(rel string) string {
		p := filepath.Join(root, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, nil, 0o644))
		return p
	}
	mk("Chart.yaml") // above the repository: not its chart
	mk("repo/.git/HEAD")
	mk("repo/charts/app/Chart.yaml")
	inChart := mk("repo/charts/app/values-prod.yaml")
	nested := mk("repo/charts/app/envs/prod/values.yaml")
	apart := mk("repo/envs/prod/values.yaml")

	assert.Equal(t, filepath.Join(root, "repo", "charts", "app"), chartBeside(inChart))
	assert.Equal(t, filepath.Join(root, "repo", "charts", "app"), chartBeside(nested))
	assert.Empty(t, chartBeside(apart), "no chart above it in its repository")
}

func TestSourceOfAnApplication(t *testing.T) {
	t.Parallel()
	u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"source": map[string]any{
		"path": "charts/ai-assistant",
		"helm": map[string]any{"valueFiles": []any{"../../envs/prod/values.yaml"}},
	}}}}
	assert.Equal(t, appSource{chart: "charts/ai-assistant", valuesFile: "envs/prod/values.yaml"}, sourceOf(u))
}
