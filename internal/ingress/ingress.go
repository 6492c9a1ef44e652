// Package ingress installs the seed's Ingress stack into a cluster, with no registry: an
// ingress controller that serves the `nginx` class (Traefik's kubernetesIngressNGINX
// provider, as ingress-nginx itself cannot be built here) on loopback node ports, and
// cert-manager with a self-signed CA ClusterIssuer, so that an Ingress annotated
// `cert-manager.io/cluster-issuer` gets a certificate a client can verify against the CA.
package ingress

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/kubeapply"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/progress"
)

const (
	// ClassName is the IngressClass the controller serves, the seed's.
	ClassName = "nginx"
	// ControllerName is ingress-nginx's controller value, the one Traefik's provider selects
	// IngressClasses by (its default controllerClass).
	ControllerName = "k8s.io/ingress-nginx"

	// ClusterIssuer is the CA ClusterIssuer an Ingress names in
	// `cert-manager.io/cluster-issuer`; it signs with the CA that SelfSignedIssuer made.
	ClusterIssuer = "ai-assistant-ca"
	// SelfSignedIssuer bootstraps the CA: it self-signs the CA Certificate.
	SelfSignedIssuer = "ai-assistant-selfsigned"
	// CASecret holds the CA's key pair, in CertManagerNamespace (the ClusterIssuer's
	// cluster resource namespace).
	CASecret = "ai-assistant-ca"

	TraefikNamespace     = "traefik"
	CertManagerNamespace = "cert-manager"

	// HTTPNodePort and HTTPSNodePort are Traefik's entry points, mapped by the kind
	// cluster to the same ports on 127.0.0.1.
	HTTPNodePort  = 30093
	HTTPSNodePort = 30094

	fieldManager = "ai-assistant-ingress"
	// digestAnnotation carries the image digest on a pod template, so a rebuilt image under
	// the same tag rolls the pod.
	digestAnnotation = "ai-assistant.io/image-digest"
)

// Image is an image already loaded into every node (there is no registry: pods never pull).
type Image struct {
	Ref    string // e.g. "traefik:v3.6.12"
	Digest string // optional: stamped on the pod template so a new image rolls the pod
}

// Options configures Install.
type Options struct {
	Traefik     Image
	CertManager Image
	// CRDDir holds cert-manager's CRDs (deploy/crds of its module at the controller's
	// version); see CRDDir.
	CRDDir string
	// Timeout bounds each wait; default 3 minutes.
	Timeout time.Duration
	// Logf receives progress lines; nil prints nothing.
	Logf func(format string, args ...any)
}

// Stack is what an installed stack offers a client.
type Stack struct {
	// CAPEM is the CA certificate every Ingress certificate of ClusterIssuer chains to.
	CAPEM []byte
	// CAPool holds CAPEM, for a tls.Config's RootCAs.
	CAPool *x509.CertPool
	// HTTPAddr and HTTPSAddr are Traefik's entry points on loopback.
	HTTPAddr, HTTPSAddr string
}

// Install creates or updates Traefik (the IngressClass nginx, its RBAC, Deployment and
// NodePort Service) and cert-manager (its CRDs, RBAC and controller, then the self-signed
// issuer, the CA Certificate and the CA ClusterIssuer), and waits until both controllers
// are available, the ClusterIssuer is ready and Traefik answers on loopback. Run again, it
// updates the objects in place (server-side apply) and returns as soon as all of that holds.
func Install(ctx context.Context, cfg *rest.Config, o Options) (*Stack, error) {
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	o.Logf = progress.Discard(o.Logf)
	start := time.Now()
	logf := progress.Since(start, o.Logf)
	k, err := kubeapply.New(cfg, fieldManager)
	if err != nil {
		return nil, err
	}
	crds, err := kubeapply.ReadCRDs(o.CRDDir)
	if err != nil {
		return nil, err
	}
	steps := []struct {
		what string
		do   func() error
	}{
		{"wait for a previous Uninstall", func() error { return waitNotTerminating(ctx, k, o.Timeout, TraefikNamespace, CertManagerNamespace) }},
		{"apply cert-manager's CRDs", func() error { return k.Apply(ctx, objects(crds)...) }},
		{"wait for the CRDs", func() error { return k.WaitEstablished(ctx, crds, o.Timeout) }},
		{"apply cert-manager", func() error { return k.Apply(ctx, certManagerObjects(o.CertManager)...) }},
		{"apply Traefik", func() error { return k.Apply(ctx, traefikObjects(o.Traefik)...) }},
		{"wait for cert-manager", func() error {
			return k.WaitDeploymentAvailable(ctx, CertManagerNamespace, certManagerName, o.Timeout, logf)
		}},
		{"apply the issuers", func() error { return k.Apply(ctx, issuerObjects()...) }},
		{"wait for Traefik", func() error { return k.WaitDeploymentAvailable(ctx, TraefikNamespace, traefikName, o.Timeout, logf) }},
		{"wait for the CA ClusterIssuer", func() error { return waitIssuerReady(ctx, k, ClusterIssuer, o.Timeout, logf) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return nil, fmt.Errorf("%s: %w", s.what, err)
		}
		logf("%s: done", s.what)
	}
	st := &Stack{
		HTTPAddr:  fmt.Sprintf("127.0.0.1:%d", HTTPNodePort),
		HTTPSAddr: fmt.Sprintf("127.0.0.1:%d", HTTPSNodePort),
	}
	if st.CAPEM, st.CAPool, err = readCA(ctx, k); err != nil {
		return nil, err
	}
	if err := waitAnswers(ctx, st.HTTPAddr, o.Timeout); err != nil {
		return nil, err
	}
	logf("Traefik answers on %s (HTTP) and %s (HTTPS); ClusterIssuer %s is ready", st.HTTPAddr, st.HTTPSAddr, ClusterIssuer)
	return st, nil
}

// Uninstall removes what Install created: the ClusterIssuers before cert-manager's CRDs (whose
// deletion removes every Certificate left in the cluster), then the namespaces and the
// cluster-scoped RBAC and IngressClass. Objects already gone are no error.
func Uninstall(ctx context.Context, cfg *rest.Config, crdDir string) error {
	k, err := kubeapply.New(cfg, fieldManager)
	if err != nil {
		return err
	}
	crds, err := kubeapply.ReadCRDs(crdDir)
	if err != nil {
		return err
	}
	objs := append(issuerObjects(), traefikObjects(Image{})...)
	objs = append(objs, certManagerObjects(Image{})...)
	return k.Delete(ctx, append(objs, objects(crds)...)...)
}

// objects lists unstructured objects as runtime objects.
func objects(us []*unstructured.Unstructured) []runtime.Object {
	out := make([]runtime.Object, len(us))
	for i, u := range us {
		out[i] = u
	}
	return out
}
