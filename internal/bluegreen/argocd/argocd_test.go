package argocd

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestStatusOfNamesWhatIsNotHealthy(t *testing.T) {
	t.Parallel()
	u := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{
		"sync":   map[string]any{"status": "Synced", "revision": "0123456789abcdef"},
		"health": map[string]any{"status": "Degraded"},
		"operationState": map[string]any{
			"phase": "Succeeded", "syncResult": map[string]any{"revision": "0123456789abcdef"},
		},
		"resources": []any{
			map[string]any{"kind": "Service", "name": "app", "health": map[string]any{"status": "Healthy"}},
			map[string]any{"kind": "HorizontalPodAutoscaler", "name": "app-blue", "health": map[string]any{"status": "Degraded", "message": "no metrics"}},
			map[string]any{"kind": "ConfigMap", "name": "app"}, // no health: not assessed
		},
	}}}
	s := StatusOf(u)
	assert.Equal(t, Status{
		Sync: "Synced", Revision: "0123456789abcdef", Health: "Degraded",
		Operation: "Succeeded", OperationRevision: "0123456789abcdef",
		Unhealthy: []string{"HorizontalPodAutoscaler/app-blue Degraded: no metrics"},
	}, s)
	assert.Equal(t, "Synced at 0123456, Degraded (HorizontalPodAutoscaler/app-blue Degraded: no metrics)", s.String())
	assert.True(t, Want{Revision: "0123456789abcdef", Sync: "Synced"}.met(s))
	assert.False(t, Want{Revision: "0123456789abcdef", Sync: "Synced", Health: "Healthy"}.met(s))
}
