package unit

import (
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stack"
)

// scenarioChecks holds what each ci/*-values.yaml scenario must render beyond being valid.
var scenarioChecks = map[string]func(t *testing.T, r *rendered){
	"default-values.yaml": func(t *testing.T, r *rendered) {
		assert.Equal(t, "blue", get[*corev1.Service](t, r, "ai-assistant").Spec.Selector["color"])
	},
	"green-active-values.yaml": func(t *testing.T, r *rendered) {
		assert.Equal(t, "green", get[*corev1.Service](t, r, "ai-assistant").Spec.Selector["color"])
		assert.Equal(t, "your-registry/ai-assistant:v2.0.0", get[*appsv1.Deployment](t, r, "ai-assistant-green").Spec.Template.Spec.Containers[0].Image)
		assert.Equal(t, ptr.To(int32(0)), get[*appsv1.Deployment](t, r, "ai-assistant-blue").Spec.Replicas)
		assert.Nil(t, find[*autoscalingv2.HorizontalPodAutoscaler](r, "ai-assistant-blue"))
	},
	"both-colours-values.yaml": func(t *testing.T, r *rendered) {
		assert.Len(t, all[*autoscalingv2.HorizontalPodAutoscaler](r), 2)
		assert.Equal(t, ptr.To(int32(5)), get[*autoscalingv2.HorizontalPodAutoscaler](t, r, "ai-assistant-green").Spec.MinReplicas)
		assert.Contains(t, get[*appsv1.Deployment](t, r, "ai-assistant-green").Spec.Template.Spec.Containers[0].Image, "@sha256:")
		assert.Equal(t, "2026-11-25T12:00:00Z", get[*appsv1.Deployment](t, r, "ai-assistant-blue").Annotations["ai-assistant.io/scale-down-at"])
	},
	"autoscaling-off-values.yaml": func(t *testing.T, r *rendered) {
		assert.Empty(t, all[*autoscalingv2.HorizontalPodAutoscaler](r))
		assert.Equal(t, ptr.To(int32(2)), get[*appsv1.Deployment](t, r, "ai-assistant-blue").Spec.Replicas)
		assert.Equal(t, ptr.To(int32(1)), get[*appsv1.Deployment](t, r, "ai-assistant-green").Spec.Replicas)
	},
	"existing-secret-values.yaml": func(t *testing.T, r *rendered) {
		assert.Empty(t, all[*corev1.Secret](r))
		assert.Equal(t, "ai-assistant-credentials", get[*appsv1.Deployment](t, r, "ai-assistant-blue").Spec.Template.Spec.Containers[0].EnvFrom[1].SecretRef.Name)
	},
	"ingress-tls-values.yaml": func(t *testing.T, r *rendered) {
		ing := get[*networkingv1.Ingress](t, r, "ai-assistant")
		assert.Equal(t, []networkingv1.IngressTLS{{Hosts: []string{"api.example.com"}, SecretName: "api-example-com-tls"}}, ing.Spec.TLS)
	},
	"monitoring-values.yaml": func(t *testing.T, r *rendered) {
		assert.Equal(t, "prometheus", get[*monitoringv1.ServiceMonitor](t, r, "ai-assistant").Labels["release"])
		rule := get[*monitoringv1.PrometheusRule](t, r, "ai-assistant")
		var alerts []string
		for _, rr := range rule.Spec.Groups[0].Rules {
			alerts = append(alerts, rr.Alert)
		}
		assert.ElementsMatch(t, []string{"AIAssistantNoReadyPods", "AIAssistantPodsNotReady", "AIAssistantDependencyDown", "AIAssistantHighErrorRatio", "AIAssistantHighLatency"}, alerts)
		dash := get[*corev1.ConfigMap](t, r, "ai-assistant-dashboard")
		assert.Equal(t, "1", dash.Labels["grafana_dashboard"])
		assert.Contains(t, dash.Data["ai-assistant.json"], "{{color}}", "Grafana legends reach Grafana untouched")
		assert.Len(t, get[*autoscalingv2.HorizontalPodAutoscaler](t, r, "ai-assistant-blue").Spec.Metrics, 3)
	},
	"podmonitor-values.yaml": func(t *testing.T, r *rendered) {
		assert.Nil(t, find[*monitoringv1.ServiceMonitor](r, "ai-assistant"))
		assert.Nil(t, find[*corev1.Service](r, "ai-assistant-preview"))
		pm := get[*monitoringv1.PodMonitor](t, r, "ai-assistant")
		assert.Equal(t, "prometheus", pm.Labels["release"])
		assert.Equal(t, map[string]string{"app.kubernetes.io/name": "ai-assistant", "app.kubernetes.io/instance": "ai-assistant"}, pm.Spec.Selector.MatchLabels,
			"both colours' pods, with no Service in between")
		require.Len(t, pm.Spec.PodMetricsEndpoints, 1)
		ep := pm.Spec.PodMetricsEndpoints[0]
		assert.Equal(t, "http", ptr.Deref(ep.Port, ""))
		require.Len(t, ep.RelabelConfigs, 1)
		assert.Equal(t, "job", ep.RelabelConfigs[0].TargetLabel, "the job the rules select, as the main Service gives it")
		assert.Equal(t, "ai-assistant", ptr.Deref(ep.RelabelConfigs[0].Replacement, ""))
		fors := map[string]string{}
		for _, rr := range get[*monitoringv1.PrometheusRule](t, r, "ai-assistant").Spec.Groups[0].Rules {
			fors[rr.Alert] = string(ptr.Deref(rr.For, ""))
		}
		assert.Equal(t, map[string]string{"AIAssistantNoReadyPods": "30s", "AIAssistantPodsNotReady": "5m", "AIAssistantDependencyDown": "1m",
			"AIAssistantHighErrorRatio": "2m", "AIAssistantHighLatency": "5m"}, fors)
		m := get[*autoscalingv2.HorizontalPodAutoscaler](t, r, "ai-assistant-green").Spec.Metrics
		require.Len(t, m, 3, "CPU, memory and the extra metric")
		assert.Equal(t, "ai_assistant_http_requests_in_flight", m[2].Pods.Metric.Name)
	},
	"namespace-values.yaml": func(t *testing.T, r *rendered) {
		get[*corev1.Namespace](t, r, "ai-assistant")
		for _, d := range r.Docs {
			if m, ok := d.Object.(interface{ GetNamespace() string }); ok && kindName(d.Object) != "Namespace/ai-assistant" {
				assert.Equal(t, "ai-assistant", m.GetNamespace(), kindName(d.Object))
			}
		}
	},
	"nodeport-values.yaml": func(t *testing.T, r *rendered) {
		assert.Equal(t, int32(30080), get[*corev1.Service](t, r, "ai-assistant").Spec.Ports[0].NodePort)
		assert.Equal(t, int32(30081), get[*corev1.Service](t, r, "ai-assistant-preview").Spec.Ports[0].NodePort)
		assert.Equal(t, "", get[*corev1.ConfigMap](t, r, "ai-assistant-blue").Data["VECTOR_DB_HOST"])
	},
}

// TestScenarios renders every ci/*-values.yaml scenario, validates every object against the
// Kubernetes and prometheus-operator schemas, and runs the scenario's own checks. A scenario
// without checks fails, so a new file cannot slip in untested.
func TestScenarios(t *testing.T) {
	t.Parallel()
	for _, file := range ciValuesFiles(t) {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, "-values.yaml"), func(t *testing.T) {
			t.Parallel()
			check, ok := scenarioChecks[name]
			require.True(t, ok, "scenario %s has no checks in scenarioChecks", name)
			r := render(t, valuesFile(t, file))
			assertValidAgainstSchemas(t, r)
			assertPodSecurityRestricted(t, r)
			check(t, r)
		})
	}
}

// assertValidAgainstSchemas validates every rendered object strictly, offline.
func assertValidAgainstSchemas(t *testing.T, r *rendered) {
	t.Helper()
	v := kubeSchemas(t)
	for _, d := range r.Docs {
		assert.NoError(t, v.validate(d.YAML), "%s (%s) against its schema", kindName(d.Object), d.Source)
	}
}

// assertPodSecurityRestricted checks every pod template against the Pod Security "restricted"
// profile's rules, so the chart installs into a namespace that enforces it.
func assertPodSecurityRestricted(t *testing.T, r *rendered) {
	t.Helper()
	var specs []corev1.PodSpec
	for _, d := range all[*appsv1.Deployment](r) {
		specs = append(specs, d.Spec.Template.Spec)
	}
	for _, p := range all[*corev1.Pod](r) {
		specs = append(specs, p.Spec)
	}
	require.NotEmpty(t, specs)
	for _, s := range specs {
		require.NotNil(t, s.SecurityContext)
		for _, c := range s.Containers {
			sc := c.SecurityContext
			require.NotNil(t, sc, c.Name)
			nonRoot := ptr.Deref(sc.RunAsNonRoot, false) || ptr.Deref(s.SecurityContext.RunAsNonRoot, false)
			assert.True(t, nonRoot, "%s runs as non-root", c.Name)
			assert.Equal(t, ptr.To(false), sc.AllowPrivilegeEscalation, c.Name)
			assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, c.Name)
			seccomp := sc.SeccompProfile
			if seccomp == nil {
				seccomp = s.SecurityContext.SeccompProfile
			}
			require.NotNil(t, seccomp, c.Name)
			assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, seccomp.Type, c.Name)
			assert.Empty(t, sc.Capabilities.Add, c.Name)
			assert.Nil(t, sc.Privileged, c.Name)
		}
		assert.False(t, s.HostNetwork || s.HostPID || s.HostIPC)
		for _, vol := range s.Volumes {
			assert.Nil(t, vol.HostPath, vol.Name)
		}
	}
}

// The validators must be able to fail: a misplaced field is caught by both the strict decoder
// and the schema, and a wrong type by the schema.
func TestValidatorsRejectUnknownFields(t *testing.T) {
	t.Parallel()
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - name: api
          image: x
          %s
`
	good := strings.Replace(deployment, "%s", "imagePullPolicy: IfNotPresent", 1)
	typo := strings.Replace(deployment, "%s", "imagePullPolicyy: IfNotPresent", 1)
	wrongType := strings.Replace(deployment, "%s", "ports: [{containerPort: http}]", 1)

	v := kubeSchemas(t)
	assert.NoError(t, v.validate(good))
	assert.ErrorContains(t, v.validate(typo), "imagePullPolicyy")
	assert.Error(t, v.validate(wrongType))
	_, _, err := strictDecoder.Decode([]byte(typo), nil, nil)
	assert.ErrorContains(t, err, "imagePullPolicyy")

	const sm = `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: x}
spec:
  selector: {matchLabels: {a: b}}
  endpoints:
    - %s: http
`
	assert.NoError(t, v.validate(strings.Replace(sm, "%s", "port", 1)))
	assert.ErrorContains(t, v.validate(strings.Replace(sm, "%s", "prot", 1)), "prot")
}

// TestStackValuesAreValid: the values the integration tests and the demo install with pass the
// chart's schema and fail rules, with both colours running and either one active.
func TestStackValuesAreValid(t *testing.T) {
	t.Parallel()
	deps := stack.Dependencies{DatabaseURL: "postgres://u:p@postgres:5432/db", RedisURL: "redis://redis:6379/0", LLMBaseURL: "http://llm-standin:8080/v1"}
	vals := stack.Values(deps, "v1.0.0")
	r := render(t, vals)
	assertValidAgainstSchemas(t, r)
	assert.Equal(t, int32(stack.ActiveNodePort), get[*corev1.Service](t, r, "ai-assistant").Spec.Ports[0].NodePort)
	assert.Equal(t, "http://llm-standin:8080/v1", get[*corev1.ConfigMap](t, r, "ai-assistant-blue").Data["LLM_BASE_URL"])
}
