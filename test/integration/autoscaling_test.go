//go:build integration

package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"k8s.io/utils/ptr"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/cluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/imagebuild"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/monitoring"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stackimages"
)

var metricsServer = &suiteStack{name: "metrics-server"}

// metricsPipeline installs metrics-server into the shared cluster once per test binary, for
// TestMain to remove after the suite: the cluster is shared with other checkouts, whose tests
// (without newAppOn's held HPAs) assume no metrics. It returns an error instead of failing t,
// so that a test can run it beside its release's install.
func metricsPipeline(c *cluster.Cluster) error {
	return metricsServer.ensure(20*time.Minute, func(ctx context.Context, logf func(string, ...any)) error {
		// hack/images.sh builds it before the tests, so a cold build shows its progress there;
		// here it is up to date.
		rs, tarballs, err := stackimages.Build(ctx, repoRoot, logf, imagebuild.MetricsServer)
		if err != nil {
			return err
		}
		if err := c.LoadImageArchives(ctx, tarballs...); err != nil {
			return err
		}
		return monitoring.Install(ctx, c.RESTConfig, monitoring.Options{Image: rs[0].Tag, ImageDigest: rs[0].Info.Digest.String(), Logf: logf})
	}, func(ctx context.Context) error { return monitoring.Uninstall(ctx, c.RESTConfig) })
}

// TestAutoscalingCPU: with metrics-server serving metrics.k8s.io, the active colour's HPA
// reads its pods' CPU, scales up under load with the seed's scale-up behaviour (at once,
// 100 % per 15 s) and, the load stopped, back down to minReplicas with a test-sized
// scale-down behaviour. The pods request 20m CPU, so 200 req/s is several times the 70 %
// target.
func TestAutoscalingCPU(t *testing.T) {
	parallel(t)
	c, _ := appCluster(t)
	// metrics-server starts while the release installs: both take about half a minute.
	metrics := make(chan error, 1)
	go func() { metrics <- metricsPipeline(c) }()
	const minReplicas = 2
	a := newApp(t, map[string]any{"autoscaling": map[string]any{
		"minReplicas": minReplicas, "maxReplicas": 6,
		// The seed waits 300 s and then removes 10 % a minute; a test cannot. The scale-up
		// behaviour is the chart's default, the seed's.
		"behavior": map[string]any{"scaleDown": map[string]any{
			"stabilizationWindowSeconds": 15,
			"policies":                   []any{map[string]any{"type": "Percent", "value": 100, "periodSeconds": 15}},
		}},
	}})
	require.NoError(t, <-metrics, "install metrics-server (hack/images.sh shows its build)")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	color := a.activeColor()
	name := release + "-" + color
	hpas := a.c.Clientset.AutoscalingV2().HorizontalPodAutoscalers(a.ns)

	hpa, err := hpas.Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, int32(minReplicas), ptr.Deref(hpa.Spec.MinReplicas, 0))
	require.NotNil(t, hpa.Spec.Behavior)
	up := hpa.Spec.Behavior.ScaleUp
	require.NotNil(t, up)
	assert.Equal(t, int32(0), ptr.Deref(up.StabilizationWindowSeconds, -1), "the seed's scale-up: no stabilisation")
	assert.Equal(t, []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}, up.Policies, "the seed's scale-up: double every 15 s")

	w := &hpaWatch{a: a, name: name, color: color}
	w.metrics, err = metricsclient.NewForConfig(a.c.RESTConfig)
	require.NoError(t, err)

	// Load until the HPA decides to scale up.
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadStart := time.Now()
	done := a.load(loadCtx, false, 2*time.Minute)
	err = w.poll(ctx, 2*time.Minute, func(s hpaSample) bool { return s.desired > minReplicas })
	stopLoad()
	res := done()
	require.NoError(t, err, "the HPA never scaled %s above %d under load (last: %s)", name, minReplicas, w.last())
	loadStop := time.Now()
	scaledUp := w.last()
	upAfter := scaledUp.at.Sub(loadStart)
	require.NotNil(t, w.firstCPU, "the HPA never reported the pods' CPU utilisation")
	assert.Greater(t, ptr.Deref(scaledUp.cpu, 0), int32(70), "CPU above the target of 70 when the HPA scaled up")
	assert.Positive(t, res.Total, "load was sent")

	// Back to minReplicas: the metrics show the idle pods, the 15 s window passes, and the
	// policy removes what it must. One read a second meanwhile: another test takes the slot.
	lendSlot(t)
	err = w.poll(ctx, 150*time.Second, func(s hpaSample) bool {
		return s.desired == minReplicas && s.current == minReplicas && s.replicas == minReplicas
	})
	require.NoError(t, err, "the HPA never scaled %s back to %d after the load (last: %s)", name, minReplicas, w.last())
	downAfter := w.last().at.Sub(loadStop)
	assert.Greater(t, w.peak, int32(minReplicas), "the Deployment grew above minReplicas")

	rescales := w.rescaleEvents(ctx)
	t.Logf("HPA %s rescale events:\n  %s", name, strings.Join(rescales, "\n  "))
	assert.True(t, slices.ContainsFunc(rescales, func(m string) bool {
		return strings.Contains(m, "cpu resource utilization") && strings.Contains(m, "above target")
	}),
		"a scale-up was for CPU above target: %v", rescales)

	window, every := w.resolution()
	t.Logf("autoscaling: first CPU reading %d%% %s after load start; scale-up decided %s after load start at %d%% CPU (target 70%%, memory %d%%, 200 req/s); "+
		"peak %d replicas (min %d); back at %d %s after load stop; metrics window %s, new pod sample every %s (--metric-resolution=%s)",
		ptr.Deref(w.firstCPU.cpu, 0), w.firstCPU.at.Sub(loadStart).Round(100*time.Millisecond), upAfter.Round(100*time.Millisecond),
		ptr.Deref(scaledUp.cpu, 0), ptr.Deref(scaledUp.memory, 0), w.peak, minReplicas, minReplicas, downAfter.Round(100*time.Millisecond),
		window, every, monitoring.MetricResolution)
}

// hpaSample is one reading of an HPA and its target.
type hpaSample struct {
	at                         time.Time
	cpu, memory                *int32             // current average utilisation; nil while unknown
	rps                        *resource.Quantity // http_requests_per_second per pod, when the HPA has it
	desired, current, replicas int32              // HPA status, and the Deployment's spec.replicas
}

func (s hpaSample) String() string {
	pct := func(p *int32) string {
		if p == nil {
			return "<unknown>"
		}
		return fmt.Sprintf("%d%%", *p)
	}
	rps := ""
	if s.rps != nil {
		rps = fmt.Sprintf(", http_requests_per_second %s", s.rps)
	}
	return fmt.Sprintf("cpu %s, memory %s%s, desired %d, current %d, deployment %d", pct(s.cpu), pct(s.memory), rps, s.desired, s.current, s.replicas)
}

// hpaWatch reads a colour's HPA, Deployment and pod metrics every second and keeps what the
// test reports.
type hpaWatch struct {
	a            *app
	name, color  string
	metrics      metricsclient.Interface
	samples      []hpaSample
	firstCPU     *hpaSample
	peak         int32
	podSampledAt []time.Time // distinct timestamps of one pod's metrics
	podWindow    time.Duration
	podName      string
}

// poll samples until done holds or timeout passes, printing a line whenever the reading
// changes.
func (w *hpaWatch) poll(ctx context.Context, timeout time.Duration, done func(hpaSample) bool) error {
	began := time.Now()
	return wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		s, err := w.sample(ctx)
		if err != nil {
			w.a.t.Logf("[%5.1fs] %v", time.Since(began).Seconds(), err)
			return false, nil
		}
		if len(w.samples) == 0 || s.String() != w.samples[len(w.samples)-1].String() {
			w.a.t.Logf("[%5.1fs] %s: %s", time.Since(began).Seconds(), w.name, s)
		}
		w.samples = append(w.samples, s)
		if s.cpu != nil && w.firstCPU == nil {
			w.firstCPU = &s
		}
		w.peak = max(w.peak, s.current, s.replicas)
		w.podMetrics(ctx)
		return done(s), nil
	})
}

func (w *hpaWatch) sample(ctx context.Context) (hpaSample, error) {
	cs := w.a.c.Clientset
	hpa, err := cs.AutoscalingV2().HorizontalPodAutoscalers(w.a.ns).Get(ctx, w.name, metav1.GetOptions{})
	if err != nil {
		return hpaSample{}, err
	}
	d, err := cs.AppsV1().Deployments(w.a.ns).Get(ctx, w.name, metav1.GetOptions{})
	if err != nil {
		return hpaSample{}, err
	}
	s := hpaSample{at: time.Now(), desired: hpa.Status.DesiredReplicas, current: hpa.Status.CurrentReplicas, replicas: ptr.Deref(d.Spec.Replicas, 1)}
	for _, m := range hpa.Status.CurrentMetrics {
		if m.Type == autoscalingv2.PodsMetricSourceType && m.Pods != nil && m.Pods.Metric.Name == "http_requests_per_second" {
			s.rps = m.Pods.Current.AverageValue
		}
		if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil {
			continue
		}
		switch m.Resource.Name {
		case corev1.ResourceCPU:
			s.cpu = m.Resource.Current.AverageUtilization
		case corev1.ResourceMemory:
			s.memory = m.Resource.Current.AverageUtilization
		}
	}
	return s, nil
}

// podMetrics follows one pod of the colour through the metrics API: how often its sample
// changes is the resolution the HPA sees.
func (w *hpaWatch) podMetrics(ctx context.Context) {
	if w.metrics == nil {
		return // a test of the custom metric alone, with no resource metrics API asked for
	}
	list, err := w.metrics.MetricsV1beta1().PodMetricses(w.a.ns).List(ctx, metav1.ListOptions{LabelSelector: "color=" + w.color})
	if err != nil {
		return // the HPA readings are what the test asserts; this is a figure
	}
	for _, pm := range list.Items {
		if w.podName == "" {
			w.podName = pm.Name
		}
		if pm.Name != w.podName {
			continue
		}
		w.podWindow = pm.Window.Duration
		if n := len(w.podSampledAt); n == 0 || !pm.Timestamp.Time.Equal(w.podSampledAt[n-1]) {
			w.podSampledAt = append(w.podSampledAt, pm.Timestamp.Time)
		}
	}
}

// resolution is the pod metrics' window and the median time between new samples.
func (w *hpaWatch) resolution() (window, every time.Duration) {
	var gaps []time.Duration
	for i := 1; i < len(w.podSampledAt); i++ {
		gaps = append(gaps, w.podSampledAt[i].Sub(w.podSampledAt[i-1]))
	}
	if len(gaps) == 0 {
		return w.podWindow, 0
	}
	slices.Sort(gaps)
	return w.podWindow, gaps[len(gaps)/2].Round(100 * time.Millisecond)
}

func (w *hpaWatch) last() hpaSample {
	if len(w.samples) == 0 {
		return hpaSample{}
	}
	return w.samples[len(w.samples)-1]
}

// rescaleEvents are the HPA's SuccessfulRescale messages, oldest first.
func (w *hpaWatch) rescaleEvents(ctx context.Context) []string {
	w.a.t.Helper()
	evs, err := w.a.c.Clientset.CoreV1().Events(w.a.ns).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name=" + w.name + ",reason=SuccessfulRescale",
	})
	require.NoError(w.a.t, err)
	at := func(e corev1.Event) time.Time {
		if e.LastTimestamp.IsZero() {
			return e.EventTime.Time // recorded through events.k8s.io
		}
		return e.LastTimestamp.Time
	}
	slices.SortFunc(evs.Items, func(x, y corev1.Event) int { return at(x).Compare(at(y)) })
	var out []string
	for _, e := range evs.Items {
		out = append(out, fmt.Sprintf("%s %s", at(e).UTC().Format("15:04:05"), e.Message))
	}
	return out
}
