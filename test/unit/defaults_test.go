package unit

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// The seed's manifests (../shared/seed/README.md) are the chart's defaults: every field the
// seed sets must render with the seed's value.

func TestDefaultsRenderTheSeedDeployment(t *testing.T) {
	t.Parallel()
	r := render(t, nil)
	d := get[*appsv1.Deployment](t, r, "ai-assistant-blue")

	assert.Equal(t, appsv1.DeploymentStrategy{
		Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxSurge:       ptr.To(intstr.FromInt32(1)),
			MaxUnavailable: ptr.To(intstr.FromInt32(0)),
		},
	}, d.Spec.Strategy, "strategy")

	pod := d.Spec.Template
	for k, v := range map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8000", "prometheus.io/path": "/metrics"} {
		assert.Equal(t, v, pod.Annotations[k], "pod annotation %s", k)
	}
	assert.Equal(t, int64(60), *pod.Spec.TerminationGracePeriodSeconds, "grace period")

	require.Len(t, pod.Spec.Containers, 1)
	c := pod.Spec.Containers[0]
	assert.Equal(t, "api", c.Name)
	assert.Equal(t, "your-registry/ai-assistant:v1.0.0", c.Image)
	assert.Equal(t, []corev1.ContainerPort{{Name: "http", ContainerPort: 8000, Protocol: corev1.ProtocolTCP}}, c.Ports)
	assert.Equal(t, []corev1.EnvFromSource{
		{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "ai-assistant-blue"}}},
		{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "ai-assistant-blue"}}},
	}, c.EnvFrom, "envFrom")

	wantResources := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceMemory:           resource.MustParse("512Mi"),
			corev1.ResourceCPU:              resource.MustParse("250m"),
			corev1.ResourceEphemeralStorage: resource.MustParse("64Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceMemory:           resource.MustParse("2Gi"),
			corev1.ResourceCPU:              resource.MustParse("1000m"),
			corev1.ResourceEphemeralStorage: resource.MustParse("1Gi"),
		},
	}
	assert.Empty(t, cmp.Diff(wantResources, c.Resources, quantityCmp), "resources (-want +got)")

	probe := func(path string, delay, period, timeout, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
			InitialDelaySeconds: delay, PeriodSeconds: period, TimeoutSeconds: timeout, FailureThreshold: failures,
		}
	}
	// The seed's probes and timings; port "http" is the seed's 8000 by name.
	assert.Empty(t, cmp.Diff(probe("/health", 30, 10, 1, 3), c.LivenessProbe), "liveness (-want +got)")
	assert.Empty(t, cmp.Diff(probe("/ready", 5, 5, 3, 3), c.ReadinessProbe), "readiness (-want +got)")
	assert.Empty(t, cmp.Diff(probe("/health", 10, 10, 1, 30), c.StartupProbe), "startup (-want +got)")
}

func TestDefaultsFixTheSeedsShortcomings(t *testing.T) {
	t.Parallel()
	r := render(t, nil)
	d := get[*appsv1.Deployment](t, r, "ai-assistant-blue")
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]

	assert.Nil(t, d.Spec.Replicas, "no spec.replicas while the HPA owns the Deployment")
	assert.Equal(t, corev1.PullIfNotPresent, c.ImagePullPolicy, "IfNotPresent with a pinned tag")

	require.NotNil(t, c.Lifecycle, "preStop hook")
	require.NotNil(t, c.Lifecycle.PreStop.Sleep, "preStop sleep action")
	assert.Equal(t, int64(10), c.Lifecycle.PreStop.Sleep.Seconds)
	assert.Less(t, c.Lifecycle.PreStop.Sleep.Seconds, *pod.TerminationGracePeriodSeconds, "preStop inside the grace period")

	// Pod Security "restricted".
	require.NotNil(t, pod.SecurityContext)
	assert.Equal(t, ptr.To(true), pod.SecurityContext.RunAsNonRoot)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.SecurityContext.SeccompProfile.Type)
	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.Equal(t, ptr.To(false), sc.AllowPrivilegeEscalation)
	assert.Equal(t, ptr.To(true), sc.ReadOnlyRootFilesystem)
	assert.Equal(t, ptr.To(true), sc.RunAsNonRoot)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)
	assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"}, "writable /tmp on a read-only root")

	// Spread across nodes, counting only this colour's current ReplicaSet.
	require.Len(t, pod.TopologySpreadConstraints, 1)
	tsc := pod.TopologySpreadConstraints[0]
	assert.Equal(t, "kubernetes.io/hostname", tsc.TopologyKey)
	assert.Equal(t, d.Spec.Selector.MatchLabels, tsc.LabelSelector.MatchLabels)
	assert.Equal(t, []string{"pod-template-hash"}, tsc.MatchLabelKeys)

	// Its own ServiceAccount without a token.
	sa := get[*corev1.ServiceAccount](t, r, "ai-assistant")
	assert.Equal(t, "ai-assistant", pod.ServiceAccountName)
	assert.Equal(t, ptr.To(false), sa.AutomountServiceAccountToken)
	assert.Equal(t, ptr.To(false), pod.AutomountServiceAccountToken)

	// Checksums roll the pods on a config or secret change.
	assert.Regexp(t, "^[0-9a-f]{64}$", d.Spec.Template.Annotations["checksum/config"])
	assert.Regexp(t, "^[0-9a-f]{64}$", d.Spec.Template.Annotations["checksum/secret"])

	// A PodDisruptionBudget for the colour that runs.
	pdb := get[*policyv1.PodDisruptionBudget](t, r, "ai-assistant-blue")
	assert.Equal(t, ptr.To(intstr.FromInt32(1)), pdb.Spec.MaxUnavailable)
	assert.Equal(t, d.Spec.Selector, pdb.Spec.Selector)

	// A NetworkPolicy that admits only the http port to this release's pods.
	np := get[*networkingv1.NetworkPolicy](t, r, "ai-assistant")
	assert.Equal(t, map[string]string{"app.kubernetes.io/name": "ai-assistant", "app.kubernetes.io/instance": "ai-assistant"}, np.Spec.PodSelector.MatchLabels)
	require.Len(t, np.Spec.Ingress, 1)
	assert.Equal(t, ptr.To(intstr.FromString("http")), np.Spec.Ingress[0].Ports[0].Port)
	assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, np.Spec.PolicyTypes)
}

func TestDefaultsRenderTheSeedConfigAndSecret(t *testing.T) {
	t.Parallel()
	r := render(t, nil)
	cm := get[*corev1.ConfigMap](t, r, "ai-assistant-blue")
	assert.Equal(t, map[string]string{
		"LOG_LEVEL":          "INFO",
		"CORS_ORIGINS":       "https://your-domain.com",
		"DEFAULT_MODEL":      "deepseek-chat",
		"MAX_TOKENS":         "4096",
		"VECTOR_DB_HOST":     "milvus-service",
		"VECTOR_DB_PORT":     "19530",
		"CHUNK_SIZE":         "512",
		"LANGFUSE_HOST":      "https://langfuse.your-domain.com",
		"PROMETHEUS_ENABLED": "true",
	}, cm.Data)

	s := get[*corev1.Secret](t, r, "ai-assistant-blue")
	assert.Equal(t, corev1.SecretTypeOpaque, s.Type)
	assert.Empty(t, s.Data, "credentials go in stringData, not base64 data")
	want := map[string]string{}
	for _, k := range []string{"OPENAI_API_KEY", "DEEPSEEK_API_KEY", "DATABASE_URL", "REDIS_URL", "LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY"} {
		want[k] = ""
	}
	assert.Equal(t, want, s.StringData, "the six keys, with no literal credential as a default")
}

func TestDefaultsRenderTheSeedServiceAndHPA(t *testing.T) {
	t.Parallel()
	r := render(t, nil)
	svc := get[*corev1.Service](t, r, "ai-assistant")
	assert.Equal(t, corev1.ServiceTypeClusterIP, svc.Spec.Type)
	assert.Equal(t, []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}}, svc.Spec.Ports,
		"port 80 to the container's 8000, named http so the ServiceMonitor selects it")

	hpa := get[*autoscalingv2.HorizontalPodAutoscaler](t, r, "ai-assistant-blue")
	assert.Equal(t, autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "ai-assistant-blue"}, hpa.Spec.ScaleTargetRef)
	assert.Equal(t, ptr.To(int32(3)), hpa.Spec.MinReplicas)
	assert.Equal(t, int32(10), hpa.Spec.MaxReplicas)
	assert.Equal(t, []autoscalingv2.MetricSpec{
		resourceMetric(corev1.ResourceCPU, 70),
		resourceMetric(corev1.ResourceMemory, 80),
	}, hpa.Spec.Metrics, "CPU and memory; the custom metric is opt-in")
	assert.Equal(t, &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To(int32(300)),
			Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 10, PeriodSeconds: 60}},
		},
		ScaleUp: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To(int32(0)),
			Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
		},
	}, hpa.Spec.Behavior)
}

func TestIngressRendersTheSeedsAnnotationsAndTLS(t *testing.T) {
	t.Parallel()
	r := render(t, values(t, "", "ingress.enabled=true"))
	ing := get[*networkingv1.Ingress](t, r, "ai-assistant")
	assert.Equal(t, ptr.To("nginx"), ing.Spec.IngressClassName)
	assert.Equal(t, map[string]string{
		"cert-manager.io/cluster-issuer":                 "letsencrypt-prod",
		"nginx.ingress.kubernetes.io/proxy-body-size":    "50m",
		"nginx.ingress.kubernetes.io/proxy-read-timeout": "300",
	}, ing.Annotations)
	assert.Equal(t, []networkingv1.IngressTLS{{Hosts: []string{"api.your-domain.com"}, SecretName: "ai-assistant-tls"}}, ing.Spec.TLS)
	require.Len(t, ing.Spec.Rules, 1)
	assert.Equal(t, "api.your-domain.com", ing.Spec.Rules[0].Host)
	assert.Equal(t, []networkingv1.HTTPIngressPath{{
		Path:     "/",
		PathType: ptr.To(networkingv1.PathTypePrefix),
		Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
			Name: "ai-assistant", Port: networkingv1.ServiceBackendPort{Name: "http"},
		}},
	}}, ing.Spec.Rules[0].HTTP.Paths)
}

func TestServiceMonitorSelectsTheNamedServicePort(t *testing.T) {
	t.Parallel()
	r := render(t, values(t, "", "metrics.serviceMonitor.enabled=true"))
	sm := get[*monitoringv1.ServiceMonitor](t, r, "ai-assistant")
	require.Len(t, sm.Spec.Endpoints, 1)
	ep := sm.Spec.Endpoints[0]
	assert.Equal(t, "http", ep.Port)
	assert.Equal(t, "/metrics", ep.Path)
	assert.Equal(t, monitoringv1.Duration("15s"), ep.Interval)
	assert.Equal(t, []string{"color"}, sm.Spec.PodTargetLabels)

	// The seed's bug was a selector and port that matched nothing: check both Services match.
	for _, name := range []string{"ai-assistant", "ai-assistant-preview"} {
		svc := get[*corev1.Service](t, r, name)
		for k, v := range sm.Spec.Selector.MatchLabels {
			assert.Equal(t, v, svc.Labels[k], "Service %s label %s selected by the ServiceMonitor", name, k)
		}
		assert.Equal(t, ep.Port, svc.Spec.Ports[0].Name, "Service %s has the endpoint's port", name)
	}
}

func TestNamespaceCarriesTheSeedsLabelsAndPodSecurity(t *testing.T) {
	t.Parallel()
	r := render(t, values(t, "", "namespace.create=true"))
	ns := get[*corev1.Namespace](t, r, "ai-assistant")
	for k, v := range map[string]string{
		"app":                                "ai-assistant",
		"environment":                        "production",
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/audit":   "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	} {
		assert.Equal(t, v, ns.Labels[k], "label %s", k)
	}
	assert.Nil(t, find[*corev1.Namespace](render(t, nil), "ai-assistant"), "no Namespace by default")
}

func TestHelmTestPodChecksReadyThroughTheService(t *testing.T) {
	t.Parallel()
	r := render(t, nil)
	pod := get[*corev1.Pod](t, r, "ai-assistant-test-ready")
	assert.Equal(t, "test", pod.Annotations["helm.sh/hook"])
	c := pod.Spec.Containers[0]
	assert.Equal(t, "your-registry/ai-assistant:v1.0.0", c.Image, "the active colour's image carries the probe client")
	assert.Equal(t, []string{"healthcheck", "--url", "http://ai-assistant.ai-assistant.svc:80/ready", "--timeout", "5s"}, c.Args)
	assert.Equal(t, ptr.To(true), c.SecurityContext.ReadOnlyRootFilesystem)
}

func resourceMetric(name corev1.ResourceName, utilization int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   name,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(utilization)},
		},
	}
}

// quantityCmp compares resource quantities by value, not by their cached string form.
var quantityCmp = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })
