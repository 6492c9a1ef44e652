// Package monitoring installs the metrics pipeline into a cluster: metrics-server in
// kube-system, serving the resource metrics API (metrics.k8s.io) that HorizontalPodAutoscalers
// read CPU and memory utilisation from. Without it every HPA reports `<unknown>` and never
// scales.
package monitoring

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/kubeapply"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/podspec"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/progress"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"k8s.io/utils/ptr"
)

const (
	// Namespace and Name of metrics-server's objects, as upstream's manifests have them.
	Namespace = "kube-system"
	Name      = "metrics-server"
	// MetricResolution is how often metrics-server scrapes the kubelets.
	MetricResolution = 15 * time.Second

	fieldManager = "ai-assistant-monitoring"
	// digestAnnotation carries the image digest on the pod template, so a rebuilt image
	// under the same tag rolls the pod.
	digestAnnotation = "ai-assistant.io/image-digest"
)

// apiServices is the aggregated API metrics-server serves. Its types live in
// k8s.io/kube-aggregator, which this module does not otherwise need (it would raise
// k8s.io/apiserver), so it goes through the dynamic client.
var apiServices = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// Options configures Install.
type Options struct {
	// Image is the metrics-server image, already loaded into every node (there is no
	// registry: the pod never pulls).
	Image string
	// ImageDigest, when set, is stamped on the pod template so a new image rolls the pod.
	ImageDigest string
	// Timeout bounds each wait; default 3 minutes.
	Timeout time.Duration
	// Logf receives progress lines; nil prints nothing.
	Logf func(format string, args ...any)
}

// Install creates or updates metrics-server and its RBAC, Service and APIService, then
// waits until metrics.k8s.io serves a metric for every node. Run again, it updates the
// objects in place and returns as soon as the API answers.
func Install(ctx context.Context, cfg *rest.Config, o Options) error {
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	o.Logf = progress.Discard(o.Logf)
	cs, dyn, err := kubeapply.Clients(cfg)
	if err != nil {
		return err
	}
	mc, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("metrics client: %w", err)
	}
	start := time.Now()
	logf := progress.Since(start, o.Logf)
	if err := applyServer(ctx, cs, o); err != nil {
		return err
	}
	logf("metrics-server %s applied in %s; waiting until it is available", o.Image, Namespace)
	if err := waitAvailable(ctx, cs, o.Timeout, logf); err != nil {
		return err
	}
	// Registered only once the server is ready: an APIService that is not available fails
	// API discovery (helm, kubectl) for everyone on the cluster while it lasts.
	if err := applyAPIService(ctx, dyn); err != nil {
		return err
	}
	logf("APIService v1beta1.metrics.k8s.io registered; waiting for node metrics")
	return waitNodeMetrics(ctx, cs, mc, o.Timeout, logf)
}

// Uninstall removes what Install created, the APIService first: an APIService whose
// server is gone fails API discovery for everyone on the cluster. Objects already gone are
// no error.
func Uninstall(ctx context.Context, cfg *rest.Config) error {
	cs, dyn, err := kubeapply.Clients(cfg)
	if err != nil {
		return err
	}
	return uninstall(ctx, cs, dyn)
}

// clients are the typed client for the server's objects and the dynamic one for its
// APIService.

func uninstall(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface) error {
	m := objects(Options{})
	opts := metav1.DeleteOptions{}
	deletes := []step{
		{"APIService v1beta1.metrics.k8s.io", func() error { return dyn.Resource(apiServices).Delete(ctx, apiService().GetName(), opts) }},
		{"Deployment", func() error { return cs.AppsV1().Deployments(Namespace).Delete(ctx, Name, opts) }},
		{"Service", func() error { return cs.CoreV1().Services(Namespace).Delete(ctx, Name, opts) }},
		{"RoleBinding", func() error { return cs.RbacV1().RoleBindings(Namespace).Delete(ctx, m.authReader.Name, opts) }},
	}
	for _, b := range m.clusterRoleBindings {
		deletes = append(deletes, step{"ClusterRoleBinding " + b.Name, func() error { return cs.RbacV1().ClusterRoleBindings().Delete(ctx, b.Name, opts) }})
	}
	for _, r := range m.clusterRoles {
		deletes = append(deletes, step{"ClusterRole " + r.Name, func() error { return cs.RbacV1().ClusterRoles().Delete(ctx, r.Name, opts) }})
	}
	deletes = append(deletes, step{"ServiceAccount", func() error { return cs.CoreV1().ServiceAccounts(Namespace).Delete(ctx, Name, opts) }})
	for _, d := range deletes {
		if err := d.do(); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete metrics-server %s: %w", d.what, err)
		}
	}
	return nil
}

// step is one write to the cluster, named for its error.
type step struct {
	what string
	do   func() error
}

// applyServer creates or updates everything but the APIService.
func applyServer(ctx context.Context, cs kubernetes.Interface, o Options) error {
	m := objects(o)
	steps := []step{
		{"ServiceAccount", func() error {
			return kubeapply.CreateOrUpdate(ctx, cs.CoreV1().ServiceAccounts(Namespace), m.serviceAccount, fieldManager)
		}},
		{"ClusterRoles", func() error {
			for _, r := range m.clusterRoles {
				if err := kubeapply.CreateOrUpdate(ctx, cs.RbacV1().ClusterRoles(), r, fieldManager); err != nil {
					return fmt.Errorf("%s: %w", r.Name, err)
				}
			}
			return nil
		}},
		{"ClusterRoleBindings", func() error {
			for _, b := range m.clusterRoleBindings {
				if err := kubeapply.CreateOrUpdate(ctx, cs.RbacV1().ClusterRoleBindings(), b, fieldManager); err != nil {
					return fmt.Errorf("%s: %w", b.Name, err)
				}
			}
			return nil
		}},
		{"RoleBinding", func() error {
			return kubeapply.CreateOrUpdate(ctx, cs.RbacV1().RoleBindings(Namespace), m.authReader, fieldManager)
		}},
		{"Service", func() error {
			return kubeapply.CreateOrUpdate(ctx, cs.CoreV1().Services(Namespace), m.service, fieldManager)
		}},
		{"Deployment", func() error {
			return kubeapply.CreateOrUpdate(ctx, cs.AppsV1().Deployments(Namespace), m.deployment, fieldManager)
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("apply metrics-server %s: %w", s.what, err)
		}
	}
	return nil
}

func applyAPIService(ctx context.Context, dyn dynamic.Interface) error {
	if err := kubeapply.CreateOrUpdate(ctx, kubeapply.UnstructuredClient{ResourceInterface: dyn.Resource(apiServices)}, apiService(), fieldManager); err != nil {
		return fmt.Errorf("apply APIService v1beta1.metrics.k8s.io: %w", err)
	}
	return nil
}

// waitAvailable waits until the Deployment's current generation is rolled out and ready.
func waitAvailable(ctx context.Context, cs kubernetes.Interface, timeout time.Duration, logf func(string, ...any)) error {
	if err := kubeapply.WaitDeploymentAvailable(ctx, cs, Namespace, Name, timeout, logf); err != nil {
		return fmt.Errorf("metrics-server: %w", err)
	}
	logf("metrics-server available")
	return nil
}

// waitNodeMetrics waits until the resource metrics API lists a metric for every node: the
// APIService is available and metrics-server has scraped each kubelet twice (a CPU rate
// needs two samples).
func waitNodeMetrics(ctx context.Context, cs kubernetes.Interface, mc metricsclient.Interface, timeout time.Duration, logf func(string, ...any)) error {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	var last string
	progress := kubeapply.ProgressEvery(10*time.Second, logf)
	err = wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		nm, err := mc.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err.Error()
			progress("metrics.k8s.io: %s", last)
			return false, nil
		}
		last = fmt.Sprintf("metrics for %d of %d nodes", len(nm.Items), len(nodes.Items))
		if len(nm.Items) < len(nodes.Items) {
			progress("metrics.k8s.io: %s", last)
			return false, nil
		}
		n := nm.Items[0]
		logf("metrics.k8s.io serves node metrics (%s: cpu %s, memory %s, window %s)",
			n.Name, n.Usage.Cpu(), n.Usage.Memory(), n.Window.Duration)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("metrics.k8s.io served no metrics for every node within %s (%s): %w", timeout, last, err)
	}
	return nil
}

// manifest is metrics-server's objects but the APIService.
type manifest struct {
	serviceAccount      *corev1.ServiceAccount
	clusterRoles        []*rbacv1.ClusterRole
	clusterRoleBindings []*rbacv1.ClusterRoleBinding
	authReader          *rbacv1.RoleBinding
	service             *corev1.Service
	deployment          *appsv1.Deployment
}

// objects are upstream's components.yaml (v0.8.0) for kind: the kubelets' serving
// certificates are self-signed, hence --kubelet-insecure-tls; the image is loaded into
// the nodes, hence no pulls.
func objects(o Options) manifest {
	labels := map[string]string{"k8s-app": Name}
	meta := func(name, ns string, extra map[string]string) metav1.ObjectMeta {
		l := map[string]string{"k8s-app": Name}
		maps.Copy(l, extra)
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: l}
	}
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: Name, Namespace: Namespace}}

	sa := &corev1.ServiceAccount{ObjectMeta: meta(Name, Namespace, nil)}
	roles := []*rbacv1.ClusterRole{
		{
			// Lets admin, edit and view read the metrics API (kubectl top).
			ObjectMeta: meta("system:aggregated-metrics-reader", "", map[string]string{
				"rbac.authorization.k8s.io/aggregate-to-admin": "true",
				"rbac.authorization.k8s.io/aggregate-to-edit":  "true",
				"rbac.authorization.k8s.io/aggregate-to-view":  "true",
			}),
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}}},
		},
		{
			ObjectMeta: meta("system:metrics-server", "", nil),
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"nodes/metrics"}, Verbs: []string{"get"}},
				{APIGroups: []string{""}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}},
			},
		},
	}
	bindings := []*rbacv1.ClusterRoleBinding{
		{
			// Delegates authentication and authorisation of metrics requests to the API server.
			ObjectMeta: meta("metrics-server:system:auth-delegator", "", nil),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:auth-delegator"},
			Subjects:   subject,
		},
		{
			ObjectMeta: meta("system:metrics-server", "", nil),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:metrics-server"},
			Subjects:   subject,
		},
	}
	// Reads the front proxy's client CA, to trust requests the aggregator forwards.
	authReader := &rbacv1.RoleBinding{
		ObjectMeta: meta("metrics-server-auth-reader", Namespace, nil),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "extension-apiserver-authentication-reader"},
		Subjects:   subject,
	}
	svc := &corev1.Service{
		ObjectMeta: meta(Name, Namespace, nil),
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("https")}},
		},
	}

	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("https"), Scheme: corev1.URISchemeHTTPS}},
			PeriodSeconds:    period,
			FailureThreshold: 3,
		}
	}
	var annotations map[string]string
	if o.ImageDigest != "" {
		annotations = map[string]string{digestAnnotation: o.ImageDigest}
	}
	deploy := &appsv1.Deployment{
		ObjectMeta: meta(Name, Namespace, nil),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr.To(intstr.FromInt32(0))},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec: corev1.PodSpec{
					ServiceAccountName: Name,
					PriorityClassName:  "system-cluster-critical",
					NodeSelector:       map[string]string{corev1.LabelOSStable: "linux"},
					SecurityContext: &corev1.PodSecurityContext{
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            Name,
						Image:           o.Image,
						ImagePullPolicy: corev1.PullNever,
						Args: []string{
							"--cert-dir=/tmp",
							"--secure-port=10250",
							"--kubelet-preferred-address-types=InternalIP",
							"--kubelet-use-node-status-port",
							fmt.Sprintf("--metric-resolution=%s", MetricResolution),
							"--kubelet-insecure-tls",
						},
						Ports: []corev1.ContainerPort{{Name: "https", ContainerPort: 10250, Protocol: corev1.ProtocolTCP}},
						// /readyz passes once the first scrape is stored; a short period makes the
						// API available seconds after that instead of upstream's 20 s + 10 s.
						ReadinessProbe: probe("/readyz", 2),
						LivenessProbe:  probe("/livez", 10),
						// Upstream asks 100m and 200Mi, sized for 100 nodes; one kind node needs
						// a fraction, and the test releases share its two cores.
						Resources:       podspec.Requests("50m", "64Mi"),
						SecurityContext: podspec.Restricted(),
						VolumeMounts:    []corev1.VolumeMount{{Name: "tmp-dir", MountPath: "/tmp"}},
					}},
					Volumes: []corev1.Volume{{Name: "tmp-dir", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
		},
	}
	return manifest{sa, roles, bindings, authReader, svc, deploy}
}

// apiService registers metrics-server's Service as metrics.k8s.io/v1beta1. The aggregator
// skips verifying its self-signed serving certificate, as upstream's manifest does.
func apiService() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata": map[string]any{
			"name":   "v1beta1.metrics.k8s.io",
			"labels": map[string]any{"k8s-app": Name},
		},
		"spec": map[string]any{
			"group":                 "metrics.k8s.io",
			"version":               "v1beta1",
			"groupPriorityMinimum":  int64(100),
			"versionPriority":       int64(100),
			"insecureSkipTLSVerify": true,
			"service":               map[string]any{"name": Name, "namespace": Namespace, "port": int64(443)},
		},
	}}
}
