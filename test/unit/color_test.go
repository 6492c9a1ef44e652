package unit

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/utils/ptr"
)

// colourSelector is what a Service or Deployment of one colour must select.
func colourSelector(color string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     "ai-assistant",
		"app.kubernetes.io/instance": "ai-assistant",
		"color":                      color,
	}
}

func TestBothColoursRenderWithTheirOwnSelectorAndLabel(t *testing.T) {
	t.Parallel()
	r := render(t, nil)
	for _, color := range []string{"blue", "green"} {
		d := get[*appsv1.Deployment](t, r, "ai-assistant-"+color)
		assert.Equal(t, colourSelector(color), d.Spec.Selector.MatchLabels, "%s selector", color)
		assert.Equal(t, color, d.Labels["color"])
		assert.Equal(t, color, d.Spec.Template.Labels["color"])
		assert.Contains(t, d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "APP_COLOR", Value: color})
	}
}

func TestServicesSelectTheActiveAndTheIdleColour(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		vals        map[string]any
		active, idl string
	}{
		{"blue active by default", nil, "blue", "green"},
		{"green active", values(t, "", "activeColor=green", "green.replicas=3"), "green", "blue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := render(t, tc.vals)
			assert.Equal(t, colourSelector(tc.active), get[*corev1.Service](t, r, "ai-assistant").Spec.Selector, "main Service")
			assert.Equal(t, colourSelector(tc.idl), get[*corev1.Service](t, r, "ai-assistant-preview").Spec.Selector, "preview Service")
			assert.Equal(t, "true", get[*appsv1.Deployment](t, r, "ai-assistant-"+tc.active).Annotations["ai-assistant.io/active"])
			assert.Equal(t, "false", get[*appsv1.Deployment](t, r, "ai-assistant-"+tc.idl).Annotations["ai-assistant.io/active"])
		})
	}
}

func TestPreviewServiceCanBeDisabled(t *testing.T) {
	t.Parallel()
	r := render(t, values(t, "", "previewService.enabled=false"))
	assert.Nil(t, find[*corev1.Service](r, "ai-assistant-preview"))
	assert.NotNil(t, find[*corev1.Service](r, "ai-assistant"))
}

func TestEachColourHasItsOwnImage(t *testing.T) {
	t.Parallel()
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	image := func(r *rendered, color string) string {
		return get[*appsv1.Deployment](t, r, "ai-assistant-"+color).Spec.Template.Spec.Containers[0].Image
	}
	for _, tc := range []struct {
		name            string
		sets            []string
		blue, green     string
		blueVersionLbl  string
		greenVersionLbl string
	}{
		{"appVersion by default", nil, "your-registry/ai-assistant:v1.0.0", "your-registry/ai-assistant:v1.0.0", "v1.0.0", "v1.0.0"},
		{"image.tag for both", []string{"image.tag=v1.1.0"}, "your-registry/ai-assistant:v1.1.0", "your-registry/ai-assistant:v1.1.0", "v1.1.0", "v1.1.0"},
		{"per-colour tags win", []string{"image.tag=v1.1.0", "green.image.tag=v2.0.0"}, "your-registry/ai-assistant:v1.1.0", "your-registry/ai-assistant:v2.0.0", "v1.1.0", "v2.0.0"},
		{"a digest pins the image", []string{"green.image.tag=v2.0.0", "green.image.digest=" + digest}, "your-registry/ai-assistant:v1.0.0", "your-registry/ai-assistant@" + digest, "v1.0.0", "v2.0.0"},
		{"repository for both", []string{"image.repository=registry.example.com/team/ai"}, "registry.example.com/team/ai:v1.0.0", "registry.example.com/team/ai:v1.0.0", "v1.0.0", "v1.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := render(t, values(t, "", tc.sets...))
			assert.Equal(t, tc.blue, image(r, "blue"))
			assert.Equal(t, tc.green, image(r, "green"))
			assert.Equal(t, tc.blueVersionLbl, get[*appsv1.Deployment](t, r, "ai-assistant-blue").Labels["app.kubernetes.io/version"])
			assert.Equal(t, tc.greenVersionLbl, get[*appsv1.Deployment](t, r, "ai-assistant-green").Labels["app.kubernetes.io/version"])
		})
	}
}

func TestReplicasFollowAutoscalingOrTheColoursOverride(t *testing.T) {
	t.Parallel()
	type colour struct {
		replicas *int32 // spec.replicas; nil = absent
		hpa      bool
		hpaMin   int32
		pdb      bool
	}
	for _, tc := range []struct {
		name        string
		sets        []string
		blue, green colour
	}{
		{
			name:  "defaults: blue autoscaled, green scaled to zero",
			blue:  colour{replicas: nil, hpa: true, hpaMin: 3, pdb: true},
			green: colour{replicas: ptr.To(int32(0))},
		},
		{
			name:  "an override raises the colour's HPA minimum and sets no spec.replicas",
			sets:  []string{"green.replicas=7"},
			blue:  colour{replicas: nil, hpa: true, hpaMin: 3, pdb: true},
			green: colour{replicas: nil, hpa: true, hpaMin: 7, pdb: true},
		},
		{
			name:  "null follows autoscaling for both",
			sets:  []string{"green.replicas=null"},
			blue:  colour{replicas: nil, hpa: true, hpaMin: 3, pdb: true},
			green: colour{replicas: nil, hpa: true, hpaMin: 3, pdb: true},
		},
		{
			name:  "autoscaling off: replicaCount, or the colour's override",
			sets:  []string{"autoscaling.enabled=false", "replicaCount=4", "green.replicas=2"},
			blue:  colour{replicas: ptr.To(int32(4)), pdb: true},
			green: colour{replicas: ptr.To(int32(2)), pdb: true},
		},
		{
			name:  "blue scaled to zero after a cutover to green",
			sets:  []string{"activeColor=green", "green.replicas=null", "blue.replicas=0"},
			blue:  colour{replicas: ptr.To(int32(0))},
			green: colour{replicas: nil, hpa: true, hpaMin: 3, pdb: true},
		},
		{
			name:  "PDBs off",
			sets:  []string{"podDisruptionBudget.enabled=false"},
			blue:  colour{replicas: nil, hpa: true, hpaMin: 3},
			green: colour{replicas: ptr.To(int32(0))},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := render(t, values(t, "", tc.sets...))
			for color, want := range map[string]colour{"blue": tc.blue, "green": tc.green} {
				name := "ai-assistant-" + color
				d := get[*appsv1.Deployment](t, r, name)
				assert.Equal(t, want.replicas, d.Spec.Replicas, "%s spec.replicas", color)
				hpa := find[*autoscalingv2.HorizontalPodAutoscaler](r, name)
				if assert.Equal(t, want.hpa, hpa != nil, "%s has an HPA", color) && want.hpa {
					assert.Equal(t, ptr.To(want.hpaMin), hpa.Spec.MinReplicas, "%s HPA minReplicas", color)
					assert.Equal(t, int32(10), hpa.Spec.MaxReplicas, "%s HPA maxReplicas", color)
				}
				assert.Equal(t, want.pdb, find[*policyv1.PodDisruptionBudget](r, name) != nil, "%s has a PDB", color)
			}
		})
	}
}

func TestColourEnvAnnotationsAndDeadlineStayWithTheirColour(t *testing.T) {
	t.Parallel()
	r := render(t, values(t, `
extraEnv:
  - {name: SHARED, value: "1"}
green:
  replicas: 2
  env:
    - {name: ONLY_GREEN, value: "yes"}
  podAnnotations:
    example.com/canary: "true"
blue:
  scaleDownAt: "2026-11-25T12:00:00Z"
`))
	blue := get[*appsv1.Deployment](t, r, "ai-assistant-blue")
	green := get[*appsv1.Deployment](t, r, "ai-assistant-green")
	assert.Contains(t, green.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "ONLY_GREEN", Value: "yes"})
	assert.NotContains(t, blue.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "ONLY_GREEN", Value: "yes"})
	for _, d := range []*appsv1.Deployment{blue, green} {
		assert.Contains(t, d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "SHARED", Value: "1"}, d.Name)
	}
	assert.Equal(t, "true", green.Spec.Template.Annotations["example.com/canary"])
	assert.NotContains(t, blue.Spec.Template.Annotations, "example.com/canary")
	assert.Equal(t, "2026-11-25T12:00:00Z", blue.Annotations["ai-assistant.io/scale-down-at"])
	assert.NotContains(t, green.Annotations, "ai-assistant.io/scale-down-at")
}

func TestCustomRequestRateMetricIsOptIn(t *testing.T) {
	t.Parallel()
	r := render(t, values(t, "", "autoscaling.requestsPerSecond.enabled=true"))
	hpa := get[*autoscalingv2.HorizontalPodAutoscaler](t, r, "ai-assistant-blue")
	require.Len(t, hpa.Spec.Metrics, 3, "all three of the seed's metrics")
	m := hpa.Spec.Metrics[2]
	assert.Equal(t, autoscalingv2.PodsMetricSourceType, m.Type)
	assert.Equal(t, "http_requests_per_second", m.Pods.Metric.Name)
	assert.Equal(t, autoscalingv2.AverageValueMetricType, m.Pods.Target.Type)
	assert.Equal(t, "100", m.Pods.Target.AverageValue.String())
	assert.Contains(t, r.Notes, "prometheus-adapter", "NOTES point at the adapter the metric needs")
}

func TestChecksumsChangeWithConfigAndSecret(t *testing.T) {
	t.Parallel()
	annotations := func(sets ...string) map[string]string {
		return get[*appsv1.Deployment](t, render(t, values(t, "", sets...)), "ai-assistant-blue").Spec.Template.Annotations
	}
	base := annotations()
	cfg := annotations("config.LOG_LEVEL=DEBUG")
	sec := annotations("secrets.REDIS_URL=redis://cache:6379/0")
	assert.NotEqual(t, base["checksum/config"], cfg["checksum/config"], "a config change rolls the pods")
	assert.Equal(t, base["checksum/secret"], cfg["checksum/secret"])
	assert.NotEqual(t, base["checksum/secret"], sec["checksum/secret"], "a secret change rolls the pods")
	assert.Equal(t, base["checksum/config"], sec["checksum/config"])
}

func TestExistingSecretReplacesTheChartsSecret(t *testing.T) {
	t.Parallel()
	r := render(t, values(t, "", "existingSecret=from-vault"))
	assert.Empty(t, all[*corev1.Secret](r), "no Secret rendered")
	d := get[*appsv1.Deployment](t, r, "ai-assistant-blue")
	assert.Equal(t, "from-vault", d.Spec.Template.Spec.Containers[0].EnvFrom[1].SecretRef.Name)
	assert.NotContains(t, d.Spec.Template.Annotations, "checksum/secret", "the chart cannot see an external Secret's content")
}

func TestFullnameRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sets []string
		want string
	}{
		{nil, "ai-assistant"}, // the release name contains the chart name
		{[]string{"nameOverride=assistant"}, "ai-assistant"},
		{[]string{"nameOverride=bot"}, "ai-assistant-bot"},
		{[]string{"fullnameOverride=chat"}, "chat"},
	} {
		r := render(t, values(t, "", tc.sets...))
		assert.NotNil(t, find[*appsv1.Deployment](r, tc.want+"-blue"), "%v: want %s-blue, have %v", tc.sets, tc.want, r.kinds())
		assert.NotNil(t, find[*corev1.Service](r, tc.want+"-preview"), "%v", tc.sets)
	}
}

func TestPreStopFallsBackToExecBeforeKubernetes130(t *testing.T) {
	t.Parallel()
	r := renderFor(t, nil, "v1.29.4")
	c := get[*appsv1.Deployment](t, r, "ai-assistant-blue").Spec.Template.Spec.Containers[0]
	assert.Nil(t, c.Lifecycle.PreStop.Sleep, "the sleep action is alpha and off in 1.29")
	assert.Equal(t, []string{"sleep", "10"}, c.Lifecycle.PreStop.Exec.Command)

	off := render(t, values(t, "", "preStopSleepSeconds=0"))
	assert.Nil(t, get[*appsv1.Deployment](t, off, "ai-assistant-blue").Spec.Template.Spec.Containers[0].Lifecycle)
}

func TestKubeVersionBelowTheChartsMinimumIsRefused(t *testing.T) {
	t.Parallel()
	_, err := renderRelease(t, nil, "v1.28.9")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kubeVersion")
}

// TestLongNamesFitDNSLabels: Helm allows release names of 53 characters; every Service name
// (a DNS label) stays within 63, the main and preview Services stay distinct, and so does
// every label value.
func TestLongNamesFitDNSLabels(t *testing.T) {
	t.Parallel()
	long53 := strings.Repeat("r", 53)
	for _, tc := range []struct {
		name    string
		release string
		sets    []string
	}{
		{"53-character release", long53, nil},
		{"53-character release with the chart's name", "ai-assistant-" + strings.Repeat("x", 40), nil},
		{"53-character release and a nameOverride", long53, []string{"nameOverride=assistant-api"}},
		{"55-character fullnameOverride (the schema allows no more)", releaseName, []string{"fullnameOverride=" + strings.Repeat("f", 55)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rel, err := renderChart(t, loadChart(t), tc.release, values(t, "", tc.sets...), kubeVersion)
			require.NoError(t, err)
			r := decodeRelease(t, rel)
			services := all[*corev1.Service](r)
			require.Len(t, services, 2)
			assert.NotEqual(t, services[0].Name, services[1].Name)
			for _, s := range services {
				assert.LessOrEqual(t, len(s.Name), 63, "Service %s", s.Name)
			}
			for _, d := range r.Docs {
				m, ok := d.Object.(interface{ GetLabels() map[string]string })
				require.True(t, ok)
				for k, v := range m.GetLabels() {
					assert.LessOrEqual(t, len(v), 63, "%s label %s=%s", kindName(d.Object), k, v)
				}
			}
		})
	}
}
