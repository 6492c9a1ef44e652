package ingress

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/kubeapply"
)

// Traefik's provider recognises the class by the IngressClass's controller, and the node
// ports are the ones the kind cluster maps to loopback.
func TestTraefikServesClassNginxOnTheMappedPorts(t *testing.T) {
	objs := traefikObjects(Image{Ref: "traefik:v3.6.12", Digest: "sha256:abc"})
	var class *networkingv1.IngressClass
	var svc *corev1.Service
	var deploy *appsv1.Deployment
	for _, o := range objs {
		switch v := o.(type) {
		case *networkingv1.IngressClass:
			class = v
		case *corev1.Service:
			svc = v
		case *appsv1.Deployment:
			deploy = v
		}
		u, err := kubeapply.ToUnstructured(o)
		require.NoError(t, err)
		assert.NotEmpty(t, u.GetKind(), "server-side apply needs the kind of %T", o)
	}
	require.NotNil(t, class)
	assert.Equal(t, ClassName, class.Name)
	assert.Equal(t, "k8s.io/ingress-nginx", class.Spec.Controller, "the provider's default controllerClass")
	require.NotNil(t, svc)
	ports := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		ports[p.Name] = p.NodePort
	}
	assert.Equal(t, map[string]int32{"web": HTTPNodePort, "websecure": HTTPSNodePort}, ports)
	require.NotNil(t, deploy)
	c := deploy.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "traefik:v3.6.12", c.Image)
	assert.Equal(t, corev1.PullNever, c.ImagePullPolicy, "no registry: the image is loaded into the nodes")
	assert.Contains(t, c.Args, "--providers.kubernetesIngressNGINX=true")
	assert.Equal(t, "sha256:abc", deploy.Spec.Template.Annotations[digestAnnotation])
}

// The CA is bootstrapped by the self-signed issuer, and the ClusterIssuer tests name signs
// with the CA's Secret.
func TestIssuersBootstrapTheCA(t *testing.T) {
	objs := issuerObjects()
	require.Len(t, objs, 3)
	self, cert, ca := objs[0].(*unstructured.Unstructured), objs[1].(*unstructured.Unstructured), objs[2].(*unstructured.Unstructured)
	assert.Equal(t, SelfSignedIssuer, self.GetName())
	ref, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
	assert.Equal(t, SelfSignedIssuer, ref)
	isCA, _, _ := unstructured.NestedBool(cert.Object, "spec", "isCA")
	assert.True(t, isCA)
	assert.Equal(t, ClusterIssuer, ca.GetName())
	secret, _, _ := unstructured.NestedString(ca.Object, "spec", "ca", "secretName")
	assert.Equal(t, CASecret, secret)
	assert.Equal(t, CertManagerNamespace, cert.GetNamespace(), "a ClusterIssuer reads its Secret from the cluster resource namespace")
}
