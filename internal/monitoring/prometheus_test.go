package monitoring

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/gomod"
)

func stackOptions(t *testing.T, tag string) StackOptions {
	t.Helper()
	dir, err := gomod.Dir(".", OperatorModule)
	require.NoError(t, err)
	return StackOptions{
		Operator:       Image{Ref: "prometheus-operator:" + tag, Digest: "sha256:op" + tag},
		ConfigReloader: Image{Ref: "prometheus-config-reloader:" + tag},
		Prometheus:     Image{Ref: "prometheus:" + tag, Digest: "sha256:prom" + tag},
		Adapter:        Image{Ref: "prometheus-adapter:" + tag},
		OperatorDir:    dir,
		AdapterConfig:  []byte("rules: [] # " + tag + "\n"),
	}
}

// TestStackObjects: upstream's CRDs and rules are read from the module, the Prometheus
// selects the chart's monitors and rules by SelectorLabels in every namespace at the stack's
// intervals, the operator runs our config-reloader, and the adapter claims
// custom.metrics.k8s.io alone (metrics-server keeps metrics.k8s.io).
func TestStackObjects(t *testing.T) {
	m, err := stackObjects(stackOptions(t, "v1"))
	require.NoError(t, err)

	var crdNames []string
	for _, c := range m.crds {
		crdNames = append(crdNames, c.GetName())
	}
	for _, want := range []string{"prometheuses", "servicemonitors", "podmonitors", "prometheusrules"} {
		assert.Contains(t, crdNames, want+".monitoring.coreos.com")
	}
	for _, r := range m.clusterRoles {
		assert.NotEmpty(t, r.Rules, "ClusterRole %s has rules", r.Name)
	}

	var p monitoringv1.Prometheus
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(m.prometheus.Object, &p))
	assert.Equal(t, "prometheus:v1", *p.Spec.Image)
	assert.Equal(t, PrometheusVersion, p.Spec.Version)
	for _, sel := range []*metav1.LabelSelector{p.Spec.ServiceMonitorSelector, p.Spec.PodMonitorSelector, p.Spec.RuleSelector} {
		assert.Equal(t, SelectorLabels, sel.MatchLabels)
	}
	for _, sel := range []*metav1.LabelSelector{p.Spec.ServiceMonitorNamespaceSelector, p.Spec.PodMonitorNamespaceSelector, p.Spec.RuleNamespaceSelector} {
		require.NotNil(t, sel, "every namespace, not the Prometheus's own alone")
		assert.Empty(t, sel.MatchLabels)
	}
	assert.Equal(t, monitoringv1.Duration("5s"), p.Spec.ScrapeInterval)
	assert.Equal(t, monitoringv1.Duration("5s"), p.Spec.EvaluationInterval)

	op := m.deployments[0].Spec.Template.Spec.Containers[0]
	assert.Contains(t, op.Args, "--prometheus-config-reloader=prometheus-config-reloader:v1")
	ad := m.deployments[1].Spec.Template.Spec.Containers[0]
	assert.Contains(t, ad.Args, "--config=/etc/adapter/config.yaml")
	assert.Contains(t, ad.Args, "--metrics-relist-interval=15s")
	assert.Contains(t, ad.Args, "--prometheus-url=http://prometheus-operated.monitoring.svc:9090/")
	assert.Equal(t, "rules: [] # v1\n", m.configMap.Data["config.yaml"])

	var groups []string
	for _, as := range m.apiServices {
		g, _, _ := unstructured.NestedString(as.Object, "spec", "group")
		groups = append(groups, g+"/"+as.GetName())
	}
	assert.ElementsMatch(t, []string{"custom.metrics.k8s.io/v1beta2.custom.metrics.k8s.io", "custom.metrics.k8s.io/v1beta1.custom.metrics.k8s.io"}, groups)
}

// TestStackApplyIsIdempotent: a second apply updates in place (new images and a new adapter
// config roll the pods), and uninstall removes everything but the CRDs, twice without error.
func TestStackApplyIsIdempotent(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		apiServices: "APIServiceList", prometheuses: "PrometheusList",
	})
	var hashes []string
	for _, tag := range []string{"v1", "v2"} {
		m, err := stackObjects(stackOptions(t, tag))
		require.NoError(t, err)
		require.NoError(t, applyStack(ctx, cs, dyn, m))
		d, err := cs.AppsV1().Deployments(StackNamespace).Get(ctx, adapterName, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "prometheus-adapter:"+tag, d.Spec.Template.Spec.Containers[0].Image)
		hashes = append(hashes, d.Spec.Template.Annotations["ai-assistant.io/config-hash"])
	}
	assert.NotEqual(t, hashes[0], hashes[1], "a new adapter config rolls the adapter")
	p, err := dyn.Resource(prometheuses).Namespace(StackNamespace).Get(ctx, PrometheusName, metav1.GetOptions{})
	require.NoError(t, err)
	img, _, _ := unstructured.NestedString(p.Object, "spec", "image")
	assert.Equal(t, "prometheus:v2", img)

	for range 2 {
		require.NoError(t, uninstallStack(ctx, cs, dyn, time.Second))
	}
	_, err = cs.CoreV1().Namespaces().Get(ctx, StackNamespace, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "namespace gone: %v", err)
	crbs, err := cs.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.False(t, slices.ContainsFunc(crbs.Items, func(b rbacv1.ClusterRoleBinding) bool { return strings.HasPrefix(b.Name, adapterName) }))
}
