package ingress

import (
	"fmt"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/podspec"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

const (
	traefikName     = "traefik"
	certManagerName = "cert-manager"
)

// Traefik's entry points inside the pod (unprivileged ports: it runs as non-root).
const (
	webPort       = 8000
	websecurePort = 8443
	pingPort      = 9000
)

// TraefikArgs are Traefik's static configuration: a plain and a TLS entry point, the
// kubernetesIngressNGINX provider with its defaults (class nginx, controller
// k8s.io/ingress-nginx) publishing 127.0.0.1 as the Ingresses' address, and /ping for the
// probes. Everything else is Traefik's default, among them what stands in for the seed's
// nginx annotations: no request body limit, a 60 s entry point read timeout (reading the
// request), no response timeout, and the providers' 2 s throttle between configuration
// reloads.
func TraefikArgs() []string {
	return []string{
		fmt.Sprintf("--entryPoints.web.address=:%d", webPort),
		fmt.Sprintf("--entryPoints.websecure.address=:%d", websecurePort),
		"--entryPoints.websecure.http.tls=true",
		fmt.Sprintf("--entryPoints.traefik.address=:%d", pingPort),
		"--ping=true",
		"--providers.kubernetesIngressNGINX=true",
		"--providers.kubernetesIngressNGINX.publishStatusAddress=127.0.0.1",
		"--log.level=INFO",
	}
}

// typeMeta sets what server-side apply needs on a typed object.
func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func labelsFor(name string) map[string]string {
	return map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "ai-assistant-ingress"}
}

// controllerObjects are a namespace, a service account bound to a cluster role, and a
// one-replica Deployment running img with args; the component's own objects come after.
func controllerObjects(ns, name string, rules []rbacv1.PolicyRule, img Image, c corev1.Container) []runtime.Object {
	labels := labelsFor(name)
	var annotations map[string]string
	if img.Digest != "" {
		annotations = map[string]string{digestAnnotation: img.Digest}
	}
	c.Name = name
	c.Image = img.Ref
	c.ImagePullPolicy = corev1.PullNever
	c.SecurityContext = podspec.Restricted()
	c.VolumeMounts = []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}}
	return []runtime.Object{
		&corev1.Namespace{TypeMeta: typeMeta("v1", "Namespace"), ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted",
		}}},
		&corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount"), ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}},
		&rbacv1.ClusterRole{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "ClusterRole"), ObjectMeta: metav1.ObjectMeta{Name: "ai-assistant-" + name, Labels: labels}, Rules: rules},
		&rbacv1.ClusterRoleBinding{
			TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
			ObjectMeta: metav1.ObjectMeta{Name: "ai-assistant-" + name, Labels: labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "ai-assistant-" + name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}},
		},
		&appsv1.Deployment{
			TypeMeta:   typeMeta("apps/v1", "Deployment"),
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(int32(1)),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
					Spec: corev1.PodSpec{
						ServiceAccountName: name,
						SecurityContext: &corev1.PodSecurityContext{
							SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
						Containers: []corev1.Container{c},
						Volumes:    []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
					},
				},
			},
		},
	}
}

// traefikObjects are Traefik's RBAC (what its NGINX provider lists and watches, and the
// Ingress status it writes), its Deployment, the NodePort Service of its two entry points,
// and the IngressClass nginx naming ingress-nginx's controller, which is how the provider
// recognises the class.
func traefikObjects(img Image) []runtime.Object {
	read := []string{"get", "list", "watch"}
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "ingressclasses"}, Verbs: read},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses/status"}, Verbs: []string{"update"}},
		{APIGroups: []string{""}, Resources: []string{"services", "secrets"}, Verbs: read},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
	}
	ping := corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ping", Port: intstr.FromString("ping")}}
	// The one Traefik carries every request, so neither probe may act on a slow answer: with
	// the 1 s timeout and 3 misses of the defaults, a busy two-core machine (load 30) had its
	// liveness probe restart it mid-test, and 2,331 requests failed in the 10 s it took.
	readiness := &corev1.Probe{ProbeHandler: ping, PeriodSeconds: 2, TimeoutSeconds: 5, FailureThreshold: 3}
	liveness := &corev1.Probe{ProbeHandler: ping, PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 6}
	objs := controllerObjects(TraefikNamespace, traefikName, rules, img, corev1.Container{
		Args: TraefikArgs(),
		Ports: []corev1.ContainerPort{
			{Name: "web", ContainerPort: webPort, Protocol: corev1.ProtocolTCP},
			{Name: "websecure", ContainerPort: websecurePort, Protocol: corev1.ProtocolTCP},
			{Name: "ping", ContainerPort: pingPort, Protocol: corev1.ProtocolTCP},
		},
		ReadinessProbe: readiness,
		LivenessProbe:  liveness,
		// It terminates TLS for every request, a handshake each with fresh connections: its
		// CPU share under contention follows the request.
		Resources: podspec.Requests("500m", "64Mi"),
	})
	labels := labelsFor(traefikName)
	return append(objs,
		&corev1.Service{
			TypeMeta:   typeMeta("v1", "Service"),
			ObjectMeta: metav1.ObjectMeta{Name: traefikName, Namespace: TraefikNamespace, Labels: labels},
			Spec: corev1.ServiceSpec{
				Type:     corev1.ServiceTypeNodePort,
				Selector: labels,
				Ports: []corev1.ServicePort{
					{Name: "web", Port: 80, TargetPort: intstr.FromString("web"), NodePort: HTTPNodePort, Protocol: corev1.ProtocolTCP},
					{Name: "websecure", Port: 443, TargetPort: intstr.FromString("websecure"), NodePort: HTTPSNodePort, Protocol: corev1.ProtocolTCP},
				},
			},
		},
		&networkingv1.IngressClass{
			TypeMeta:   typeMeta("networking.k8s.io/v1", "IngressClass"),
			ObjectMeta: metav1.ObjectMeta{Name: ClassName, Labels: labels},
			Spec:       networkingv1.IngressClassSpec{Controller: ControllerName},
		},
	)
}

// certManagerObjects are the controller's RBAC (cert-manager's objects, the Secrets it
// writes key pairs into, the Ingresses the ingress-shim reads, and events) and its Deployment.
func certManagerObjects(img Image) []runtime.Object {
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{"cert-manager.io"}, Resources: []string{
			"certificates", "certificates/status", "certificates/finalizers",
			"certificaterequests", "certificaterequests/status", "certificaterequests/finalizers",
			"issuers", "issuers/status", "clusterissuers", "clusterissuers/status",
		}, Verbs: all},
		{APIGroups: []string{"cert-manager.io"}, Resources: []string{"signers"}, Verbs: []string{"approve"}},
		{APIGroups: []string{"acme.cert-manager.io"}, Resources: []string{"orders", "challenges"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: all},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses/finalizers"}, Verbs: []string{"update"}},
	}
	return controllerObjects(CertManagerNamespace, certManagerName, rules, img, corev1.Container{
		Args:      []string{"--cluster-resource-namespace=" + CertManagerNamespace},
		Resources: podspec.Requests("20m", "64Mi"),
	})
}

// issuerObjects bootstrap the CA, as cert-manager's documentation does: a self-signed
// ClusterIssuer signs a CA Certificate whose key pair goes into CASecret, and the CA
// ClusterIssuer signs with it.
func issuerObjects() []runtime.Object {
	ca := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cert-manager.io/v1",
		"kind":       "Certificate",
		"metadata":   map[string]any{"name": CASecret, "namespace": CertManagerNamespace},
		"spec": map[string]any{
			"isCA":       true,
			"commonName": "ai-assistant test CA",
			"secretName": CASecret,
			"duration":   "8760h",
			"privateKey": map[string]any{"algorithm": "ECDSA", "size": int64(256)},
			"issuerRef":  map[string]any{"name": SelfSignedIssuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
		},
	}}
	return []runtime.Object{
		clusterIssuer(SelfSignedIssuer, map[string]any{"selfSigned": map[string]any{}}),
		ca,
		clusterIssuer(ClusterIssuer, map[string]any{"ca": map[string]any{"secretName": CASecret}}),
	}
}

func clusterIssuer(name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cert-manager.io/v1",
		"kind":       "ClusterIssuer",
		"metadata":   map[string]any{"name": name},
		"spec":       spec,
	}}
}
