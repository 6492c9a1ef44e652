package fakecluster

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const manifest = `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web, color: blue}
  ports: [{name: http, port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-blue, labels: {color: blue}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web, color: blue}}
  template:
    metadata: {labels: {app: web, color: blue}}
    spec: {containers: [{name: api, image: "web:1"}]}
`

func TestApplyRunsTheControllersAndFlagsPatches(t *testing.T) {
	t.Parallel()
	c := New("ns")
	require.NoError(t, c.LoadImage("docker.io/library/web:1"))
	require.NoError(t, c.Apply(manifest))
	ctx := context.Background()
	d, err := c.Kube.AppsV1().Deployments("ns").Get(ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 2, d.Status.ReadyReplicas)
	eps, err := c.Kube.DiscoveryV1().EndpointSlices("ns").Get(ctx, "web-sim", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Len(t, eps.Endpoints, 2)
	assert.Empty(t, c.OutOfBandWrites(), "Helm's applies are not out of band")

	_, err = c.Kube.CoreV1().Services("ns").Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"selector":{"color":"green"}}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"patch services"}, c.OutOfBandWrites(), "the seed's kubectl patch is caught")

	c.NotReady["blue"] = true
	require.NoError(t, c.Reconcile())
	d, err = c.Kube.AppsV1().Deployments("ns").Get(ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 0, d.Status.ReadyReplicas)
}

// TestAnImageOnNoNodeWaitsInErrImagePull: the simulated nodes pull from no registry, so a pod
// whose image no node holds is never Ready and says why, as a kubelet would.
func TestAnImageOnNoNodeWaitsInErrImagePull(t *testing.T) {
	t.Parallel()
	c := New("ns")
	require.NoError(t, c.Apply(manifest))
	ctx := context.Background()
	d, err := c.Kube.AppsV1().Deployments("ns").Get(ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 0, d.Status.ReadyReplicas)
	pods, err := c.Kube.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, pods.Items, 2)
	for _, p := range pods.Items {
		require.Len(t, p.Status.ContainerStatuses, 1)
		assert.Equal(t, "ErrImagePull", p.Status.ContainerStatuses[0].State.Waiting.Reason)
	}
}
