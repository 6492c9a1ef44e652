//go:build integration

package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/helm"
	http_helper "github.com/gruntwork-io/terratest/modules/http-helper"
	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/gomod"
)

// applyPrometheusCRDs applies the ServiceMonitor and PrometheusRule CRDs from the
// prometheus-operator Go module, server-side (they are too large for client-side apply).
func applyPrometheusCRDs(t *testing.T, a *app) {
	t.Helper()
	dir, err := gomod.Dir(repoRoot, "github.com/prometheus-operator/prometheus-operator@v0.85.0")
	require.NoError(t, err)
	for _, f := range []string{"monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml"} {
		a.kubectlRun("apply", "--server-side", "--force-conflicts", "-f", filepath.Join(dir, "example", "prometheus-operator-crd", f))
	}
	a.kubectlRun("wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com")
}

// TestInstallAndProbe: the chart installs into a namespace enforcing Pod Security
// "restricted" with monitoring and the Ingress on; every pod is Ready, /health and /ready
// answer through the Service, `helm test` passes, and the monitoring objects are accepted
// with the ServiceMonitor's port resolving to the Service's endpoints.
func TestInstallAndProbe(t *testing.T) {
	parallel(t)
	c, _ := appCluster(t)
	// The CRDs are cluster-scoped and shared; apply them before the release needs them.
	crdApp := &app{t: t, c: c, kubectl: k8s.NewKubectlOptions("", c.KubeconfigPath, "default")}
	applyPrometheusCRDs(t, crdApp)

	a := newApp(t, map[string]any{
		"metrics": map[string]any{
			"serviceMonitor":   map[string]any{"enabled": true},
			"prometheusRule":   map[string]any{"enabled": true},
			"grafanaDashboard": map[string]any{"enabled": true},
		},
		"ingress": map[string]any{
			"enabled": true,
			"hosts":   []any{map[string]any{"host": "api.example.com", "paths": []any{map[string]any{"path": "/", "pathType": "Prefix"}}}},
			"tls":     []any{map[string]any{"secretName": "api-example-com-tls", "hosts": []any{"api.example.com"}}},
		},
	})
	ctx := context.Background()
	cs := c.Clientset

	// Every pod of the release is Ready: the restricted namespace admitted them all.
	pods, err := cs.CoreV1().Pods(a.ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
	require.NoError(t, err)
	require.Len(t, pods.Items, 2, "the active colour's two pods (green is scaled to zero)")
	for _, p := range pods.Items {
		assert.True(t, podReady(p), "pod %s Ready", p.Name)
		assert.Equal(t, "blue", p.Labels["color"])
	}

	for _, path := range []string{"/health", "/ready"} {
		http_helper.HttpGetWithRetryWithCustomValidation(t, url(a.port, path), nil, 30, time.Second,
			func(code int, body string) bool { return code == 200 })
	}

	out, err := helm.RunHelmCommandAndGetOutputE(t, a.helm, "test", release, "--timeout", "2m")
	require.NoError(t, err, "helm test: %s", out)
	assert.Contains(t, out, "Phase:          Succeeded")

	// The API server accepted the monitoring objects and the Ingress.
	dyn, err := dynamic.NewForConfig(c.RESTConfig)
	require.NoError(t, err)
	sm, err := dyn.Resource(schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}).
		Namespace(a.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err, "ServiceMonitor")
	_, err = dyn.Resource(schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheusrules"}).
		Namespace(a.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err, "PrometheusRule")
	_, err = cs.NetworkingV1().Ingresses(a.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err, "Ingress")

	// What Prometheus would do: select Services by the ServiceMonitor's labels, then find the
	// endpoint port by name. The seed's unnamed port made this come up empty.
	port := serviceMonitorPort(t, sm)
	selector := metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: serviceMonitorLabels(t, sm)})
	svcs, err := cs.CoreV1().Services(a.ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	require.NoError(t, err)
	require.Len(t, svcs.Items, 2, "main and preview Service")
	slices, err := cs.DiscoveryV1().EndpointSlices(a.ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + release})
	require.NoError(t, err)
	targets := 0
	for _, s := range slices.Items {
		for _, p := range s.Ports {
			if ptr.Deref(p.Name, "") != port {
				continue
			}
			for _, e := range s.Endpoints {
				if ptr.Deref(e.Conditions.Ready, false) {
					targets++
				}
			}
		}
	}
	assert.Equal(t, 2, targets, "the ServiceMonitor's port %q resolves to both ready pods of the main Service", port)
}

func serviceMonitorPort(t *testing.T, sm *unstructured.Unstructured) string {
	eps, _, err := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	require.NoError(t, err)
	require.Len(t, eps, 1)
	return eps[0].(map[string]any)["port"].(string)
}

func serviceMonitorLabels(t *testing.T, sm *unstructured.Unstructured) map[string]string {
	m, _, err := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	require.NoError(t, err)
	return m
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// TestBadValuesChangeNothing: `helm upgrade` with invalid values fails with a message
// naming the key, and neither the revision nor any live object changes.
func TestBadValuesChangeNothing(t *testing.T) {
	parallel(t)
	a := newApp(t, nil)
	ctx := context.Background()
	before := a.revision()
	blue, err := a.c.Clientset.AppsV1().Deployments(a.ns).Get(ctx, release+"-blue", metav1.GetOptions{})
	require.NoError(t, err)
	svc, err := a.c.Clientset.CoreV1().Services(a.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)

	for _, tc := range []struct {
		set  []string
		want string
	}{
		{[]string{"activeColor=purple"}, "/activeColor"},
		{[]string{"activeColor=green"}, "green.replicas is 0"},
		{[]string{"autoscaling.minReplicas=9", "autoscaling.maxReplicas=3"}, "autoscaling.minReplicas"},
		{[]string{"image.pullPolicy=Sometimes"}, "/image/pullPolicy"},
	} {
		args := []string{release, chartDir, "--reuse-values"}
		for _, s := range tc.set {
			args = append(args, "--set", s)
		}
		out, err := helm.RunHelmCommandAndGetOutputE(t, a.helm, "upgrade", args...)
		require.Error(t, err, "upgrade with %v was accepted", tc.set)
		assert.Contains(t, out, tc.want, "the error names the key")
	}

	assert.Equal(t, before, a.revision(), "no new revision")
	blueAfter, err := a.c.Clientset.AppsV1().Deployments(a.ns).Get(ctx, release+"-blue", metav1.GetOptions{})
	require.NoError(t, err)
	svcAfter, err := a.c.Clientset.CoreV1().Services(a.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, blue.ResourceVersion, blueAfter.ResourceVersion, "blue Deployment untouched")
	assert.Equal(t, svc.ResourceVersion, svcAfter.ResourceVersion, "Service untouched")
	assert.Equal(t, "blue", svcAfter.Spec.Selector["color"])
	http_helper.HttpGetWithRetryWithCustomValidation(t, url(a.port, "/ready"), nil, 10, time.Second,
		func(code int, _ string) bool { return code == 200 })
}

// deploymentReplicas reads a Deployment's desired and ready replicas.
func deploymentReplicas(t *testing.T, a *app, color string) (desired, ready int32) {
	t.Helper()
	d, err := a.c.Clientset.AppsV1().Deployments(a.ns).Get(context.Background(), release+"-"+color, metav1.GetOptions{})
	require.NoError(t, err)
	return ptr.Deref(d.Spec.Replicas, 1), d.Status.ReadyReplicas
}
