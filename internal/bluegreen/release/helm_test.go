package release

import (
	"testing"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestWithoutReplicas(t *testing.T) {
	entry := func(manager, subresource, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, Subresource: subresource, FieldsV1: metav1.NewFieldsV1(fields)}
	}
	in := []metav1.ManagedFieldsEntry{
		entry("helm", "", `{"f:metadata":{"f:labels":{}},"f:spec":{"f:replicas":{},"f:template":{}}}`),
		entry("kube-controller-manager", "scale", `{"f:spec":{"f:replicas":{}}}`),
		entry("kube-controller-manager", "status", `{"f:status":{"f:replicas":{}}}`),
	}
	out, changed := withoutReplicas(in)
	assert.True(t, changed)
	assert.Equal(t, []metav1.ManagedFieldsEntry{
		entry("helm", "", `{"f:metadata":{"f:labels":{}},"f:spec":{"f:template":{}}}`),
		// the HPA's entry owned nothing else: it goes
		entry("kube-controller-manager", "status", `{"f:status":{"f:replicas":{}}}`),
	}, out)

	_, changed = withoutReplicas(out)
	assert.False(t, changed, "no entry owns spec.replicas any more")
}
