package unit

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// The chart README's HelmRelease example is a valid helm-controller v2 object (decoded
// strictly: a misspelled or misplaced field fails), says what the README says it does, asks for
// a chart version range that holds this chart's version, and its values pass the chart's schema.
func TestFluxHelmReleaseExample(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md.gotmpl"))
	require.NoError(t, err)
	var example string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		if strings.Contains(m[1], "kind: HelmRelease") {
			example = m[1]
		}
	}
	require.NotEmpty(t, example, "no HelmRelease example in README.md.gotmpl")

	var hr helmv2.HelmRelease
	require.NoError(t, yaml.UnmarshalStrict([]byte(example), &hr))
	assert.Equal(t, helmv2.GroupVersion.String(), hr.APIVersion)

	dd := hr.Spec.DriftDetection
	require.NotNil(t, dd)
	assert.Equal(t, helmv2.DriftDetectionEnabled, dd.Mode)
	require.Len(t, dd.Ignore, 1)
	assert.Equal(t, []string{"/spec/replicas"}, dd.Ignore[0].Paths)
	require.NotNil(t, dd.Ignore[0].Target)
	assert.Equal(t, "Deployment", dd.Ignore[0].Target.Kind)
	assert.Equal(t, "app.kubernetes.io/instance="+hr.Spec.ReleaseName, dd.Ignore[0].Target.LabelSelector)

	require.NotNil(t, hr.Spec.Upgrade)
	rem := hr.Spec.Upgrade.Remediation
	require.NotNil(t, rem)
	assert.Equal(t, helmv2.RollbackRemediationStrategy, rem.GetStrategy())
	assert.True(t, rem.MustRemediateLastFailure())
	require.NotNil(t, hr.Spec.Test)
	assert.True(t, hr.Spec.Test.Enable)

	require.Len(t, hr.Spec.ValuesFrom, 1)
	assert.Equal(t, "ConfigMap", hr.Spec.ValuesFrom[0].Kind)
	assert.Equal(t, "colours.yaml", hr.Spec.ValuesFrom[0].ValuesKey)

	require.NotNil(t, hr.Spec.Chart)
	assert.Equal(t, "ai-assistant", hr.Spec.Chart.Spec.Chart)
	c, err := semver.NewConstraint(hr.Spec.Chart.Spec.Version)
	require.NoError(t, err)
	v := semver.MustParse(loadChart(t).Metadata.Version)
	assert.True(t, c.Check(v), "the example's chart version %q does not take this chart's %s", hr.Spec.Chart.Spec.Version, v)

	// Its values with a colours file like the one bluegreen --gitops edits mid-cutover.
	vals := hr.GetValues()
	vals["activeColor"] = "green"
	vals["green"] = map[string]any{"image": map[string]any{"tag": "v2.0.0"}, "replicas": 2}
	_, err = renderRelease(t, vals, kubeVersion)
	require.NoError(t, err, "the example's values fail the chart")
}
