package monitoring

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/imagebuild"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/kubeapply"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/podspec"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/progress"
)

// The monitoring stack: prometheus-operator, one Prometheus it runs, and prometheus-adapter
// serving custom.metrics.k8s.io from that Prometheus. It lives in its own namespace beside
// metrics-server, which keeps metrics.k8s.io.
const (
	// StackNamespace holds the operator, Prometheus and the adapter.
	StackNamespace = "monitoring"
	// PrometheusName is the Prometheus object; the operator names its pods
	// prometheus-<name>-<n> and its governing Service prometheus-operated.
	PrometheusName = "ai-assistant"
	// PrometheusService is the Service the operator creates for every Prometheus in a
	// namespace; its port "web" is the HTTP API.
	PrometheusService = "prometheus-operated"
	operatorName      = "prometheus-operator"
	prometheusSA      = "prometheus"
	adapterName       = "prometheus-adapter"

	// OperatorModule is where the CRDs and upstream's RBAC rules are read from, in the
	// module cache (gomod.Dir): the repository copies none of them.
	OperatorModule = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
	// PrometheusVersion is the release the prometheus image is (module v0.316.0), told to the
	// operator so that it generates flags for Prometheus 3.
	PrometheusVersion = "v3.16.0"

	// ScrapeInterval and EvaluationInterval are the stack's, short so that tests see a change
	// within seconds. A ServiceMonitor's own interval wins over ScrapeInterval.
	ScrapeInterval     = 5 * time.Second
	EvaluationInterval = 5 * time.Second
	// AdapterRelistInterval is how often the adapter rediscovers series (upstream's default is
	// 10 minutes: a release installed after the adapter would wait that long for its metric).
	AdapterRelistInterval = 15 * time.Second
)

// SelectorLabels are what the stack's Prometheus selects ServiceMonitors, PodMonitors and
// PrometheusRules by, in every namespace: the chart's metrics.*.labels carry them, as they
// carry `release: <name>` for kube-prometheus-stack.
var SelectorLabels = map[string]string{"release": "ai-assistant-monitoring"}

// customMetricsVersions are the versions of custom.metrics.k8s.io the adapter serves; the
// HPA controller prefers v1beta2.
var customMetricsVersions = []string{"v1beta2", "v1beta1"}

var (
	crds         = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	prometheuses = schema.GroupVersionResource{Group: monitoringv1.SchemeGroupVersion.Group, Version: "v1", Resource: monitoringv1.PrometheusName}
)

// Image is an image loaded into every node, and its digest (stamped on the pod template, so a
// rebuilt image under the same tag rolls the pods).
type Image struct {
	Ref    string
	Digest string
}

// StackOptions configures InstallStack.
type StackOptions struct {
	Operator, ConfigReloader, Prometheus, Adapter Image
	// OperatorDir is the prometheus-operator module's directory in the module cache
	// (gomod.Dir(repo, OperatorModule)): its CRDs and RBAC rules are applied from there.
	OperatorDir string
	// AdapterConfig is prometheus-adapter's --config file: the chart's
	// files/prometheus-adapter.yaml, the file its README tells users to copy.
	AdapterConfig []byte
	// Timeout bounds each wait; default 4 minutes.
	Timeout time.Duration
	// Logf receives progress lines; nil prints nothing.
	Logf func(format string, args ...any)
}

// InstallStack creates or updates the CRDs, prometheus-operator, a Prometheus selecting
// SelectorLabels in every namespace and prometheus-adapter, waits until Prometheus answers
// queries, then registers the adapter for custom.metrics.k8s.io (only once it serves: an
// unavailable APIService fails discovery for everyone) and waits until that API answers.
// Run again, it updates everything in place.
func InstallStack(ctx context.Context, cfg *rest.Config, o StackOptions) error {
	if o.Timeout == 0 {
		o.Timeout = 4 * time.Minute
	}
	o.Logf = progress.Discard(o.Logf)
	cs, dyn, err := kubeapply.Clients(cfg)
	if err != nil {
		return err
	}
	prom, err := PrometheusAPI(cfg)
	if err != nil {
		return err
	}
	start := time.Now()
	logf := progress.Since(start, o.Logf)
	m, err := stackObjects(o)
	if err != nil {
		return err
	}
	if err := applyCRDs(ctx, dyn, m.crds); err != nil { // the operator lists every kind at start
		return err
	}
	if err := kubeapply.WaitCRDsEstablished(ctx, dyn, m.crds, o.Timeout); err != nil {
		return err
	}
	logf("%d prometheus-operator CRDs established", len(m.crds))
	if err := applyStack(ctx, cs, dyn, m); err != nil { // operator, Prometheus, adapter
		return err
	}
	logf("prometheus-operator %s, Prometheus %s and prometheus-adapter %s applied in %s; waiting for them",
		o.Operator.Ref, o.Prometheus.Ref, o.Adapter.Ref, StackNamespace)
	if err := waitDeployment(ctx, cs, StackNamespace, operatorName, o.Timeout, logf); err != nil {
		return err
	}
	if err := waitPrometheus(ctx, prom, o.Timeout, logf); err != nil { // the operator made it
		return err
	}
	if err := waitDeployment(ctx, cs, StackNamespace, adapterName, o.Timeout, logf); err != nil {
		return err
	}
	for _, as := range m.apiServices {
		if err := kubeapply.CreateOrUpdate(ctx, kubeapply.UnstructuredClient{ResourceInterface: dyn.Resource(apiServices)}, as, fieldManager); err != nil {
			return fmt.Errorf("apply APIService %s: %w", as.GetName(), err)
		}
	}
	logf("APIServices %s.custom.metrics.k8s.io registered; waiting for the API", strings.Join(customMetricsVersions, ", "))
	return waitCustomMetricsAPI(ctx, cs, o.Timeout, logf)
}

// InstallCRDs applies prometheus-operator's CRDs from its module directory and waits until
// they are established: a release whose chart renders a ServiceMonitor can then be installed
// while the rest of the stack starts. InstallStack does it too.
func InstallCRDs(ctx context.Context, cfg *rest.Config, operatorDir string) error {
	_, dyn, err := kubeapply.Clients(cfg)
	if err != nil {
		return err
	}
	m, err := stackObjects(StackOptions{OperatorDir: operatorDir})
	if err != nil {
		return err
	}
	if err := applyCRDs(ctx, dyn, m.crds); err != nil {
		return err
	}
	return kubeapply.WaitCRDsEstablished(ctx, dyn, m.crds, time.Minute)
}

// UninstallStack removes what InstallStack created, the APIServices first, and waits until
// the namespace is gone, so that an install can follow. The CRDs stay: they are shared by
// every release's ServiceMonitor and PrometheusRule, which deleting them would delete.
func UninstallStack(ctx context.Context, cfg *rest.Config) error {
	cs, dyn, err := kubeapply.Clients(cfg)
	if err != nil {
		return err
	}
	return uninstallStack(ctx, cs, dyn, 3*time.Minute)
}

func uninstallStack(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface, timeout time.Duration) error {
	m, err := stackObjects(StackOptions{})
	if err != nil {
		return err
	}
	opts := metav1.DeleteOptions{}
	var deletes []step
	for _, as := range m.apiServices {
		deletes = append(deletes, step{"APIService " + as.GetName(), func() error { return dyn.Resource(apiServices).Delete(ctx, as.GetName(), opts) }})
	}
	// Deleted while the operator runs, so nothing recreates its StatefulSet on the way out.
	deletes = append(deletes, step{"Prometheus", func() error {
		return dyn.Resource(prometheuses).Namespace(StackNamespace).Delete(ctx, PrometheusName, opts)
	}})
	deletes = append(deletes, step{"Namespace", func() error { return cs.CoreV1().Namespaces().Delete(ctx, StackNamespace, opts) }})
	for _, b := range m.clusterRoleBindings {
		deletes = append(deletes, step{"ClusterRoleBinding " + b.Name, func() error { return cs.RbacV1().ClusterRoleBindings().Delete(ctx, b.Name, opts) }})
	}
	for _, r := range m.clusterRoles {
		deletes = append(deletes, step{"ClusterRole " + r.Name, func() error { return cs.RbacV1().ClusterRoles().Delete(ctx, r.Name, opts) }})
	}
	for _, b := range m.roleBindings {
		deletes = append(deletes, step{"RoleBinding " + b.Name, func() error { return cs.RbacV1().RoleBindings(b.Namespace).Delete(ctx, b.Name, opts) }})
	}
	for _, d := range deletes {
		if err := d.do(); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete monitoring stack %s: %w", d.what, err)
		}
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, StackNamespace, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return fmt.Errorf("namespace %s not gone: %w", StackNamespace, err)
	}
	return nil
}

// PrometheusAPI is a client of the stack's Prometheus HTTP API through the API server's
// service proxy: no port is exposed, and the caller's credentials are what reach it.
func PrometheusAPI(cfg *rest.Config) (promv1.API, error) {
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("transport for %s: %w", cfg.Host, err)
	}
	c, err := promapi.NewClient(promapi.Config{
		Address:      strings.TrimRight(cfg.Host, "/") + PrometheusProxyPath,
		RoundTripper: rt,
	})
	if err != nil {
		return nil, fmt.Errorf("prometheus client: %w", err)
	}
	return promv1.NewAPI(c), nil
}

// PrometheusProxyPath is the stack's Prometheus under the API server.
const PrometheusProxyPath = "/api/v1/namespaces/" + StackNamespace + "/services/" + PrometheusService + ":web/proxy"

// stack is every object InstallStack writes.
type stack struct {
	crds                []*unstructured.Unstructured
	namespace           *corev1.Namespace
	serviceAccounts     []*corev1.ServiceAccount
	clusterRoles        []*rbacv1.ClusterRole
	clusterRoleBindings []*rbacv1.ClusterRoleBinding
	roleBindings        []*rbacv1.RoleBinding
	configMap           *corev1.ConfigMap
	services            []*corev1.Service
	deployments         []*appsv1.Deployment
	prometheus          *unstructured.Unstructured
	apiServices         []*unstructured.Unstructured
}

// applyCRDs applies the CRDs server-side: they are too large for the last-applied annotation
// of a create-then-update, and another owner (a test's kubectl apply) may hold some of their
// fields, which Force takes over with the same content.
func applyCRDs(ctx context.Context, dyn dynamic.Interface, list []*unstructured.Unstructured) error {
	for _, crd := range list {
		body, err := json.Marshal(crd.Object)
		if err != nil {
			return fmt.Errorf("encode CRD %s: %w", crd.GetName(), err)
		}
		if _, err := dyn.Resource(crds).Patch(ctx, crd.GetName(), types.ApplyPatchType, body,
			metav1.PatchOptions{FieldManager: fieldManager, Force: ptr.To(true)}); err != nil {
			return fmt.Errorf("apply CRD %s: %w", crd.GetName(), err)
		}
	}
	return nil
}

// applyStack creates or updates the namespace and everything in it but the APIServices.
func applyStack(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface, m stack) error {
	steps := []step{{"Namespace", func() error {
		return kubeapply.CreateOrUpdate(ctx, cs.CoreV1().Namespaces(), m.namespace, fieldManager)
	}}}
	for _, sa := range m.serviceAccounts {
		steps = append(steps, step{"ServiceAccount " + sa.Name, func() error {
			return kubeapply.CreateOrUpdate(ctx, cs.CoreV1().ServiceAccounts(sa.Namespace), sa, fieldManager)
		}})
	}
	for _, r := range m.clusterRoles {
		steps = append(steps, step{"ClusterRole " + r.Name, func() error { return kubeapply.CreateOrUpdate(ctx, cs.RbacV1().ClusterRoles(), r, fieldManager) }})
	}
	for _, b := range m.clusterRoleBindings {
		steps = append(steps, step{"ClusterRoleBinding " + b.Name, func() error { return kubeapply.CreateOrUpdate(ctx, cs.RbacV1().ClusterRoleBindings(), b, fieldManager) }})
	}
	for _, b := range m.roleBindings {
		steps = append(steps, step{"RoleBinding " + b.Name, func() error {
			return kubeapply.CreateOrUpdate(ctx, cs.RbacV1().RoleBindings(b.Namespace), b, fieldManager)
		}})
	}
	steps = append(steps, step{"ConfigMap " + m.configMap.Name, func() error {
		return kubeapply.CreateOrUpdate(ctx, cs.CoreV1().ConfigMaps(StackNamespace), m.configMap, fieldManager)
	}})
	for _, s := range m.services {
		steps = append(steps, step{"Service " + s.Name, func() error {
			return kubeapply.CreateOrUpdate(ctx, cs.CoreV1().Services(StackNamespace), s, fieldManager)
		}})
	}
	for _, d := range m.deployments {
		steps = append(steps, step{"Deployment " + d.Name, func() error {
			return kubeapply.CreateOrUpdate(ctx, cs.AppsV1().Deployments(StackNamespace), d, fieldManager)
		}})
	}
	steps = append(steps, step{"Prometheus " + PrometheusName, func() error {
		return kubeapply.CreateOrUpdate(ctx, kubeapply.UnstructuredClient{ResourceInterface: dyn.Resource(prometheuses).Namespace(StackNamespace)}, m.prometheus, fieldManager)
	}})
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("apply monitoring stack %s: %w", s.what, err)
		}
	}
	return nil
}

// waitDeployment waits until a Deployment's current generation is rolled out and ready.
func waitDeployment(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration, logf func(string, ...any)) error {
	if err := kubeapply.WaitDeploymentAvailable(ctx, cs, ns, name, timeout, logf); err != nil {
		return err
	}
	logf("%s available", name)
	return nil
}

// waitPrometheus waits until the Prometheus the operator runs answers its HTTP API and has
// loaded the operator's configuration (a job per selected monitor appears there).
func waitPrometheus(ctx context.Context, prom promv1.API, timeout time.Duration, logf func(string, ...any)) error {
	var last string
	progress := kubeapply.ProgressEvery(10*time.Second, logf)
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		bi, err := prom.Buildinfo(ctx)
		if err != nil {
			last = err.Error()
			progress("prometheus: %s", last)
			return false, nil
		}
		c, err := prom.Config(ctx)
		if err != nil || !strings.Contains(c.YAML, "evaluation_interval: "+model(EvaluationInterval)) {
			last = fmt.Sprintf("Prometheus %s answers; the operator's configuration not loaded yet (%v)", bi.Version, err)
			progress("prometheus: %s", last)
			return false, nil
		}
		logf("Prometheus %s (%s) answers through the API server's service proxy with the operator's configuration", bi.Version, bi.GoVersion)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("prometheus not ready within %s (%s): %w", timeout, last, err)
	}
	return nil
}

// model prints a duration as Prometheus's configuration does ("5s", "1m").
func model(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// waitCustomMetricsAPI waits until the aggregator serves every version of
// custom.metrics.k8s.io from the adapter.
func waitCustomMetricsAPI(ctx context.Context, cs kubernetes.Interface, timeout time.Duration, logf func(string, ...any)) error {
	var last string
	progress := kubeapply.ProgressEvery(10*time.Second, logf)
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		for _, v := range customMetricsVersions {
			if _, err := cs.Discovery().ServerResourcesForGroupVersion("custom.metrics.k8s.io/" + v); err != nil {
				last = fmt.Sprintf("custom.metrics.k8s.io/%s: %v", v, err)
				progress("%s", last)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("custom.metrics.k8s.io not served within %s (%s): %w", timeout, last, err)
	}
	logf("custom.metrics.k8s.io served by %s", adapterName)
	return nil
}

// stackObjects builds every object of the stack; upstream's CRDs and ClusterRoles are read
// from o.OperatorDir (without it, as for Uninstall, they are left out).
func stackObjects(o StackOptions) (stack, error) {
	m := stack{namespace: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: StackNamespace}}}
	if o.OperatorDir != "" {
		dir := filepath.Join(o.OperatorDir, "example", "prometheus-operator-crd")
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			return m, fmt.Errorf("list CRDs in %s: %w", dir, err)
		}
		if len(files) == 0 {
			return m, fmt.Errorf("no CRDs in %s", dir)
		}
		for _, f := range files {
			crd := &unstructured.Unstructured{}
			if err := readYAML(f, &crd.Object); err != nil {
				return m, err
			}
			m.crds = append(m.crds, crd)
		}
	}
	// Upstream's rules, as they are for this release; the names are the stack's.
	roles := []struct{ name, file string }{
		{operatorName, "example/rbac/prometheus-operator/prometheus-operator-cluster-role.yaml"},
		{"ai-assistant-monitoring-prometheus", "example/rbac/prometheus/prometheus-cluster-role.yaml"},
	}
	for _, r := range roles {
		role := &rbacv1.ClusterRole{}
		if o.OperatorDir != "" {
			if err := readYAML(filepath.Join(o.OperatorDir, r.file), role); err != nil {
				return m, err
			}
		}
		role.ObjectMeta = stackMeta(r.name, "")
		m.clusterRoles = append(m.clusterRoles, role)
	}
	// prometheus-adapter's, from its deploy/manifests (v0.12.0): read what it maps to
	// metrics; nothing else.
	m.clusterRoles = append(m.clusterRoles, &rbacv1.ClusterRole{
		ObjectMeta: stackMeta(adapterName, ""),
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"nodes", "namespaces", "pods", "services"}, Verbs: []string{"get", "list", "watch"},
		}},
	})
	subject := func(name string) []rbacv1.Subject {
		return []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: StackNamespace}}
	}
	binding := func(name, role, sa string) *rbacv1.ClusterRoleBinding {
		return &rbacv1.ClusterRoleBinding{
			ObjectMeta: stackMeta(name, ""),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   subject(sa),
		}
	}
	m.clusterRoleBindings = []*rbacv1.ClusterRoleBinding{
		binding(operatorName, operatorName, operatorName),
		binding("ai-assistant-monitoring-prometheus", "ai-assistant-monitoring-prometheus", prometheusSA),
		binding(adapterName, adapterName, adapterName),
		// Delegates authentication and authorisation of API requests to the API server.
		binding(adapterName+":system:auth-delegator", "system:auth-delegator", adapterName),
	}
	// Reads the front proxy's client CA, to trust requests the aggregator forwards.
	m.roleBindings = []*rbacv1.RoleBinding{{
		ObjectMeta: stackMeta(adapterName+"-auth-reader", "kube-system"),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "extension-apiserver-authentication-reader"},
		Subjects:   subject(adapterName),
	}}
	for _, sa := range []string{operatorName, prometheusSA, adapterName} {
		m.serviceAccounts = append(m.serviceAccounts, &corev1.ServiceAccount{ObjectMeta: stackMeta(sa, StackNamespace)})
	}
	m.configMap = &corev1.ConfigMap{
		ObjectMeta: stackMeta(adapterName, StackNamespace),
		Data:       map[string]string{"config.yaml": string(o.AdapterConfig)},
	}
	m.services = []*corev1.Service{{
		ObjectMeta: stackMeta(adapterName, StackNamespace),
		Spec: corev1.ServiceSpec{
			Selector: appLabels(adapterName),
			Ports:    []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("https")}},
		},
	}}
	m.deployments = []*appsv1.Deployment{operatorDeployment(o), adapterDeployment(o)}
	prom, err := prometheusObject(o)
	if err != nil {
		return m, err
	}
	m.prometheus = prom
	for i, v := range customMetricsVersions {
		m.apiServices = append(m.apiServices, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiregistration.k8s.io/v1",
			"kind":       "APIService",
			"metadata":   map[string]any{"name": v + ".custom.metrics.k8s.io", "labels": toAny(appLabels(adapterName))},
			"spec": map[string]any{
				"group":                 "custom.metrics.k8s.io",
				"version":               v,
				"groupPriorityMinimum":  int64(100),
				"versionPriority":       int64(200 - 100*i), // v1beta2 first
				"insecureSkipTLSVerify": true,               // the adapter's certificate is self-signed
				"service":               map[string]any{"name": adapterName, "namespace": StackNamespace, "port": int64(443)},
			},
		}})
	}
	return m, nil
}

func readYAML(path string, into any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

func appLabels(name string) map[string]string {
	return map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "ai-assistant-monitoring"}
}

// stackMeta names an object of the stack; the label says whose it is (names such as
// "prometheus-adapter:system:auth-delegator" are no label values).
func stackMeta(name, ns string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/part-of": "ai-assistant-monitoring"}}
}

func toAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// deployment is one replica of a single-container pod run as the stack's own ServiceAccount.
func deployment(name string, img Image, c corev1.Container, volumes ...corev1.Volume) *appsv1.Deployment {
	var annotations map[string]string
	if img.Digest != "" {
		annotations = map[string]string{digestAnnotation: img.Digest}
	}
	c.Name, c.Image, c.ImagePullPolicy, c.SecurityContext = name, img.Ref, corev1.PullNever, podspec.Restricted()
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: StackNamespace, Labels: appLabels(name)},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: appLabels(name)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: appLabels(name), Annotations: annotations},
				Spec: corev1.PodSpec{
					ServiceAccountName: name,
					NodeSelector:       map[string]string{corev1.LabelOSStable: "linux"},
					SecurityContext:    &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers:         []corev1.Container{c},
					Volumes:            volumes,
				},
			},
		},
	}
}

// operatorDeployment is upstream's example Deployment with our config-reloader image and no
// kubelet Service (nothing here scrapes the kubelets).
func operatorDeployment(o StackOptions) *appsv1.Deployment {
	return deployment(operatorName, o.Operator, corev1.Container{
		Args: []string{
			"--prometheus-config-reloader=" + o.ConfigReloader.Ref,
			"--log-level=info",
		},
		Env:       []corev1.EnvVar{{Name: "GOGC", Value: "30"}},
		Ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
		Resources: podspec.Requests("20m", "64Mi"),
	})
}

// adapterDeployment serves custom.metrics.k8s.io from the stack's Prometheus with the rules
// of o.AdapterConfig.
func adapterDeployment(o StackOptions) *appsv1.Deployment {
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("https"), Scheme: corev1.URISchemeHTTPS}},
			PeriodSeconds:    2,
			FailureThreshold: 5,
		}
	}
	d := deployment(adapterName, o.Adapter, corev1.Container{
		Args: []string{
			"--cert-dir=/tmp/cert",
			"--secure-port=6443",
			fmt.Sprintf("--prometheus-url=http://%s.%s.svc:9090/", PrometheusService, StackNamespace),
			fmt.Sprintf("--metrics-relist-interval=%s", AdapterRelistInterval),
			"--config=/etc/adapter/config.yaml",
		},
		Ports:          []corev1.ContainerPort{{Name: "https", ContainerPort: 6443, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: probe("/readyz"),
		LivenessProbe:  probe("/livez"),
		Resources:      podspec.Requests("20m", "64Mi"),
		VolumeMounts: []corev1.VolumeMount{
			{Name: "tmp", MountPath: "/tmp"},
			{Name: "config", MountPath: "/etc/adapter", ReadOnly: true},
		},
	},
		corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: adapterName},
		}}},
	)
	// The config is read at start: a changed rule rolls the pod.
	if d.Spec.Template.Annotations == nil {
		d.Spec.Template.Annotations = map[string]string{}
	}
	d.Spec.Template.Annotations["ai-assistant.io/config-hash"] = fmt.Sprintf("%x", sha256.Sum256(o.AdapterConfig))
	return d
}

// prometheusObject is the Prometheus the operator runs: one replica of our image, selecting
// SelectorLabels in every namespace, scraping and evaluating every 5 s.
func prometheusObject(o StackOptions) (*unstructured.Unstructured, error) {
	sel := &metav1.LabelSelector{MatchLabels: SelectorLabels}
	all := &metav1.LabelSelector{}
	p := &monitoringv1.Prometheus{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PrometheusesKind},
		ObjectMeta: stackMeta(PrometheusName, StackNamespace),
		Spec: monitoringv1.PrometheusSpec{
			CommonPrometheusFields: monitoringv1.CommonPrometheusFields{
				Image:                           ptr.To(o.Prometheus.Ref),
				ImagePullPolicy:                 corev1.PullNever,
				Version:                         PrometheusVersion,
				Replicas:                        ptr.To(int32(1)),
				ServiceAccountName:              prometheusSA,
				ServiceMonitorSelector:          sel,
				ServiceMonitorNamespaceSelector: all,
				PodMonitorSelector:              sel,
				PodMonitorNamespaceSelector:     all,
				ScrapeInterval:                  monitoringv1.Duration(model(ScrapeInterval)),
				Resources:                       podspec.Requests("50m", "128Mi"),
				SecurityContext: &corev1.PodSecurityContext{
					RunAsNonRoot:   ptr.To(true),
					RunAsUser:      ptr.To(int64(65532)),
					RunAsGroup:     ptr.To(int64(65532)),
					FSGroup:        ptr.To(int64(65532)),
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
			},
			RuleSelector:          sel,
			RuleNamespaceSelector: all,
			EvaluationInterval:    monitoringv1.Duration(model(EvaluationInterval)),
			Retention:             "2h",
		},
	}
	// The operator runs the reloader as /bin/prometheus-config-reloader, where upstream's
	// image has it; ours has it where every image of this project has its binary. The
	// operator merges these into its containers by name.
	reloader := []string{"/usr/local/bin/" + imagebuild.PrometheusConfigReloader.Name}
	p.Spec.Containers = []corev1.Container{{Name: "config-reloader", Command: reloader}}
	p.Spec.InitContainers = []corev1.Container{{Name: "init-config-reloader", Command: reloader}}
	if o.Prometheus.Digest != "" {
		p.Spec.PodMetadata = &monitoringv1.EmbeddedObjectMetadata{Annotations: map[string]string{digestAnnotation: o.Prometheus.Digest}}
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	if err != nil {
		return nil, fmt.Errorf("convert Prometheus: %w", err)
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

var (
	serviceMonitors = schema.GroupVersionResource{Group: monitoringv1.SchemeGroupVersion.Group, Version: "v1", Resource: monitoringv1.ServiceMonitorName}
	podMonitors     = schema.GroupVersionResource{Group: monitoringv1.SchemeGroupVersion.Group, Version: "v1", Resource: monitoringv1.PodMonitorName}
	prometheusRules = schema.GroupVersionResource{Group: monitoringv1.SchemeGroupVersion.Group, Version: "v1", Resource: monitoringv1.PrometheusRuleName}
)

// WaitLoaded waits until the stack's Prometheus has loaded every ServiceMonitor, PodMonitor
// and PrometheusRule of namespace ns that it selects: a scrape job of each monitor in its
// configuration, a rule file of each rule. The operator writes them into a Secret and a
// ConfigMap mounted in the Prometheus pod, which the kubelet refreshes only at its periodic
// resync, about a minute, or at once when the pod changes: while something is missing,
// WaitLoaded annotates the pod every 5 s. It returns how long the wait took.
func WaitLoaded(ctx context.Context, cfg *rest.Config, ns string, timeout time.Duration) (time.Duration, error) {
	cs, dyn, err := kubeapply.Clients(cfg)
	if err != nil {
		return 0, err
	}
	prom, err := PrometheusAPI(cfg)
	if err != nil {
		return 0, err
	}
	began := time.Now()
	var (
		missing []string // what the last complete reading lacked
		lastErr error    // the last reading's error, if it failed
		nudged  time.Time
	)
	err = wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		want, err := selectedObjects(ctx, dyn, ns)
		if err != nil {
			lastErr = err
			return false, nil
		}
		c, cerr := prom.Config(ctx)
		rules, rerr := prom.Rules(ctx, nil)
		if cerr != nil || rerr != nil {
			lastErr = fmt.Errorf("prometheus: %w", errors.Join(cerr, rerr))
			return false, nil
		}
		lastErr, missing = nil, nil
		for _, w := range want {
			if w.rule {
				found := false
				for _, g := range rules.Groups {
					found = found || strings.Contains(filepath.Base(g.File), ns+"-"+w.name+"-")
				}
				if !found {
					missing = append(missing, "PrometheusRule "+w.name)
				}
			} else if !strings.Contains(c.YAML, "job_name: "+w.kind+"/"+ns+"/"+w.name+"/") {
				missing = append(missing, w.kind+" "+w.name)
			}
		}
		if len(missing) == 0 {
			return true, nil
		}
		if time.Since(nudged) >= 5*time.Second {
			nudged = time.Now()
			lastErr = nudgePrometheus(ctx, cs)
		}
		return false, nil
	})
	if err != nil {
		return time.Since(began), fmt.Errorf("prometheus had not loaded %s of namespace %s after %s: %w",
			strings.Join(missing, ", "), ns, time.Since(began).Round(time.Second), errors.Join(err, lastErr))
	}
	return time.Since(began), nil
}

// selected is a monitor or rule the stack's Prometheus selects.
type selected struct {
	kind, name string // kind as the operator names scrape jobs: serviceMonitor, podMonitor
	rule       bool
}

func selectedObjects(ctx context.Context, dyn dynamic.Interface, ns string) ([]selected, error) {
	sel := metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: SelectorLabels})
	var out []selected
	for _, r := range []struct {
		gvr  schema.GroupVersionResource
		kind string
		rule bool
	}{{serviceMonitors, "serviceMonitor", false}, {podMonitors, "podMonitor", false}, {prometheusRules, "", true}} {
		list, err := dyn.Resource(r.gvr).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", r.gvr.Resource, err)
		}
		for _, o := range list.Items {
			out = append(out, selected{kind: r.kind, name: o.GetName(), rule: r.rule})
		}
	}
	return out, nil
}

// nudgePrometheus changes an annotation of the Prometheus pods, so that the kubelet syncs
// them, and with them their configuration volumes, now.
func nudgePrometheus(ctx context.Context, cs kubernetes.Interface) error {
	pods, err := cs.CoreV1().Pods(StackNamespace).List(ctx, metav1.ListOptions{LabelSelector: "operator.prometheus.io/name=" + PrometheusName})
	if err != nil {
		return fmt.Errorf("list Prometheus pods: %w", err)
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"ai-assistant.io/resync":%q}}}`, time.Now().UTC().Format(time.RFC3339Nano))
	for _, p := range pods.Items {
		if _, err := cs.CoreV1().Pods(StackNamespace).Patch(ctx, p.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("annotate %s: %w", p.Name, err)
		}
	}
	return nil
}
