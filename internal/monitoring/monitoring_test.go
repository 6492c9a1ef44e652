package monitoring

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
)

// TestApplyIsIdempotent: a second install over the first updates in place (a new image
// reaches the Deployment) instead of failing on objects that exist; uninstall removes it all.
func TestApplyIsIdempotent(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{apiServices: "APIServiceList"})

	for _, img := range []string{"metrics-server:v0.8.0", "metrics-server:rebuilt"} {
		require.NoError(t, applyServer(ctx, cs, Options{Image: img, ImageDigest: "sha256:" + img}))
		require.NoError(t, applyAPIService(ctx, dyn))
	}
	d, err := cs.AppsV1().Deployments(Namespace).Get(ctx, Name, metav1.GetOptions{})
	require.NoError(t, err)
	c := d.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "metrics-server:rebuilt", c.Image)
	assert.Equal(t, "sha256:metrics-server:rebuilt", d.Spec.Template.Annotations[digestAnnotation])
	for _, arg := range []string{"--kubelet-insecure-tls", "--metric-resolution=15s", "--secure-port=10250", "--cert-dir=/tmp"} {
		assert.True(t, slices.Contains(c.Args, arg), "args %v lack %s", c.Args, arg)
	}
	assert.Equal(t, corev1.PullNever, c.ImagePullPolicy, "no registry to pull from")

	for _, name := range []string{"system:aggregated-metrics-reader", "system:metrics-server"} {
		_, err := cs.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
		assert.NoError(t, err, "ClusterRole %s", name)
	}
	for _, name := range []string{"metrics-server:system:auth-delegator", "system:metrics-server"} {
		_, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, name, metav1.GetOptions{})
		assert.NoError(t, err, "ClusterRoleBinding %s", name)
	}
	rb, err := cs.RbacV1().RoleBindings(Namespace).Get(ctx, "metrics-server-auth-reader", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "extension-apiserver-authentication-reader", rb.RoleRef.Name)

	as, err := dyn.Resource(apiServices).Get(ctx, "v1beta1.metrics.k8s.io", metav1.GetOptions{})
	require.NoError(t, err)
	svc, _, _ := unstructured.NestedString(as.Object, "spec", "service", "name")
	assert.Equal(t, Name, svc)

	// Uninstall removes it all, and twice is no error.
	for range 2 {
		require.NoError(t, uninstall(ctx, cs, dyn))
	}
	_, err = dyn.Resource(apiServices).Get(ctx, "v1beta1.metrics.k8s.io", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "APIService left: %v", err)
	crs, err := cs.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, crs.Items)
	_, err = cs.AppsV1().Deployments(Namespace).Get(ctx, Name, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "Deployment left: %v", err)
}

// TestRestrictedSecurityContext: metrics-server runs as Pod Security "restricted" requires.
func TestRestrictedSecurityContext(t *testing.T) {
	d := objects(Options{Image: "metrics-server:v0.8.0"}).deployment
	sc := d.Spec.Template.Spec.Containers[0].SecurityContext
	require.NotNil(t, sc)
	assert.False(t, *sc.AllowPrivilegeEscalation)
	assert.True(t, *sc.RunAsNonRoot)
	assert.True(t, *sc.ReadOnlyRootFilesystem)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, d.Spec.Template.Spec.SecurityContext.SeccompProfile.Type)
}
