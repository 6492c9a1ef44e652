package gate

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// TestRolloutCheckReadsTheDeploymentAsKstatusDoes: the rollout is done only once the
// controller has seen the spec, every replica is updated, available and Ready and no old one
// is left; a passed progress deadline fails it. Each case differs from the done one in one
// field.
func TestRolloutCheckReadsTheDeploymentAsKstatusDoes(t *testing.T) {
	t.Parallel()
	done := func() *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web-green", Namespace: "ns", Generation: 2},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"color": "green"}},
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "app:2"}}}},
			},
			Status: appsv1.DeploymentStatus{
				ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
				Conditions: []appsv1.DeploymentCondition{
					{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue},
					{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
				},
			},
		}
	}
	for _, tc := range []struct {
		name    string
		edit    func(*appsv1.Deployment)
		waiting string // "" means done
		err     string
	}{
		{"done", func(*appsv1.Deployment) {}, "", ""},
		{"spec not observed", func(d *appsv1.Deployment) { d.Status.ObservedGeneration = 1 }, "generation", ""},
		{"an old replica left", func(d *appsv1.Deployment) { d.Status.Replicas = 3 }, "Pending termination: 1", ""},
		{"one not updated", func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 }, "Updated: 1/2", ""},
		{"one not available", func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1 }, "Available: 1/2", ""},
		{"progress deadline passed", func(d *appsv1.Deployment) {
			d.Status.Conditions[1] = appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
				Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-green-1" has timed out progressing.`}
		}, "", `deployment web-green: ProgressDeadlineExceeded: ReplicaSet "web-green-1" has timed out progressing.`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := done()
			tc.edit(d)
			kube := fake.NewClientset(d)
			for _, name := range []string{"web-green-a", "web-green-b"} {
				_, err := kube.CoreV1().Pods("ns").Create(context.Background(), &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"color": "green"}},
					Spec:       d.Spec.Template.Spec,
					Status:     corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
				}, metav1.CreateOptions{})
				require.NoError(t, err)
			}
			r := Rollout{Kube: kube, Namespace: "ns"}
			ok, waiting, pods, err := r.check(context.Background(), "web-green", 2, "app:2")
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			if tc.waiting == "" {
				assert.True(t, ok, "done, waiting for %q", waiting)
				assert.Len(t, pods, 2)
				return
			}
			assert.False(t, ok)
			assert.Contains(t, waiting, tc.waiting)
		})
	}
}

// TestNormalisedImageMatchesWhatKubeletsReport: the short names users write are the names
// node.status.images lists; a registry's names stay as they are.
func TestNormalisedImageMatchesWhatKubeletsReport(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ai-assistant:v1.0.0":                   "docker.io/library/ai-assistant:v1.0.0",
		"docker.io/library/ai-assistant:v1":     "docker.io/library/ai-assistant:v1",
		"acme/ai-assistant:v1":                  "docker.io/acme/ai-assistant:v1",
		"registry.example:5000/team/app:v1":     "registry.example:5000/team/app:v1",
		"localhost/app:v1":                      "localhost/app:v1",
		"app@sha256:" + strings.Repeat("a", 64): "docker.io/library/app@sha256:" + strings.Repeat("a", 64),
		"Not A Reference":                       "Not A Reference",
	} {
		assert.Equal(t, want, NormalisedImage(in), in)
	}
}
