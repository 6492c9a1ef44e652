package gitops

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// Argo CD logs and ignores an exclusion list it cannot parse, and then caches every kind again:
// the list must decode strictly into the shape of its settings.FilteredResource.
func TestArgoCDExcludesTheKindsNoApplicationRenders(t *testing.T) {
	var rules []struct {
		APIGroups []string `json:"apiGroups"`
		Kinds     []string `json:"kinds"`
		Clusters  []string `json:"clusters"`
	}
	require.NoError(t, yaml.UnmarshalStrict([]byte(resourceExclusions), &rules))

	excluded := map[string]bool{}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, k := range r.Kinds {
				excluded[g+"/"+k] = true
			}
		}
	}
	for _, gk := range []string{"coordination.k8s.io/Lease", "discovery.k8s.io/EndpointSlice", "/Endpoints"} {
		assert.True(t, excluded[gk], "%s is cached by the controller", gk)
	}
	// Kinds the chart renders stay in the cache, or Argo CD would not sync them.
	for _, gk := range []string{"/Service", "apps/Deployment", "/Secret", "/ConfigMap", "autoscaling/HorizontalPodAutoscaler"} {
		assert.False(t, excluded[gk], "%s is excluded", gk)
	}
}
