package unit

import (
	"io"
	"path/filepath"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/charthistory"
)

// TestUpgradeWithReuseValuesFromThePreviousVersion: `helm upgrade --reuse-values` renders the
// new version with the old release's values alone, none of the new values.yaml, so every key
// this version adds is absent. Helm's own install and upgrade actions (in-process, releases
// in memory) take the chart of the previous version, from git history, to this one: the
// schema accepts the old values and the templates fall back to the new keys' defaults.
func TestUpgradeWithReuseValuesFromThePreviousVersion(t *testing.T) {
	t.Parallel()
	prevDir, prevVersion, err := charthistory.Previous(filepath.Join(chartDir, "..", ".."), "charts/ai-assistant", t.TempDir())
	require.NoError(t, err)
	prev, err := loader.Load(prevDir)

	require.NoError(t, err)
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	require.NoError(t, err)
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: caps,
		Log:          func(string, ...any) {},
	}
	// The templates whose values this version extends are on.
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace = releaseName, namespace
	_, err = install.Run(prev, values(t, `
ingress: {enabled: true}
metrics: {prometheusRule: {enabled: true}, serviceMonitor: {enabled: true}}
`))
	require.NoError(t, err, "install %s", prevVersion)

	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace, upgrade.ReuseValues = namespace, true
	rel, err := upgrade.Run(releaseName, loadChart(t), map[string]any{})
	require.NoError(t, err, "helm upgrade --reuse-values from %s", prevVersion)

	r := decodeRelease(t, rel)
	var ingresses []*networkingv1.Ingress
	for _, d := range r.Docs {
		if o, ok := d.Object.(*networkingv1.Ingress); ok {
			ingresses = append(ingresses, o)
		}
	}
	var alertFor []string
	for _, rule := range get[*monitoringv1.PrometheusRule](t, r, releaseName).Spec.Groups[0].Rules {
		alertFor = append(alertFor, string(*rule.For))
	}
	require.Len(t, ingresses, 1, "the main Ingress and no preview Ingress (ingress.preview is absent)")
	require.NotNil(t, ingresses[0].Spec.IngressClassName, "the class set the default way, ingressClassName")
	require.Equal(t, "nginx", *ingresses[0].Spec.IngressClassName)
	require.Equal(t, []string{"1m", "10m", "2m", "5m", "10m"}, alertFor, "each alert's for from the defaults")
}
