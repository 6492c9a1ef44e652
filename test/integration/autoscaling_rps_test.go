//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	custommetricsv1beta2 "k8s.io/metrics/pkg/apis/custom_metrics/v1beta2"
	"k8s.io/utils/ptr"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stack"
)

// requestsPerSecondValues scale each colour on the seed's Pods metric alone (CPU and memory
// off, so that only prometheus-adapter can move it), from minReplicas, with the seed's
// scale-up and a scale-down stabilisation of scaleDownWindow seconds.
func requestsPerSecondValues(minReplicas, scaleDownWindow int) map[string]any {
	return map[string]any{
		"metrics": map[string]any{
			"serviceMonitor": map[string]any{"enabled": true, "interval": scrapeInterval, "labels": selectorLabels()},
		},
		"autoscaling": map[string]any{
			"minReplicas": minReplicas, "maxReplicas": 4,
			"targetCPUUtilizationPercentage":    nil,
			"targetMemoryUtilizationPercentage": nil,
			"requestsPerSecond":                 map[string]any{"enabled": true, "averageValue": "100"},
			"behavior": map[string]any{"scaleDown": map[string]any{
				"stabilizationWindowSeconds": scaleDownWindow,
				"policies":                   []any{map[string]any{"type": "Percent", "value": 100, "periodSeconds": 15}},
			}},
		},
	}
}

// customMetric reads http_requests_per_second of the namespace's pods exactly as a user
// would: kubectl get --raw on custom.metrics.k8s.io. It returns requests/s by pod.
func (a *app) customMetric() (map[string]float64, error) {
	out, err := k8s.RunKubectlAndGetOutputE(a.t, a.kubectl, "get", "--raw", "/apis/custom.metrics.k8s.io/v1beta2/namespaces/"+a.ns+"/pods/*/http_requests_per_second")
	if err != nil {
		return nil, err
	}
	var list custommetricsv1beta2.MetricValueList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, fmt.Errorf("decode %q: %w", out, err)
	}
	byPod := map[string]float64{}
	for _, it := range list.Items {
		if it.Metric.Name != "http_requests_per_second" || it.DescribedObject.Kind != "Pod" {
			return nil, fmt.Errorf("unexpected item %+v", it)
		}
		byPod[it.DescribedObject.Name] = it.Value.AsApproximateFloat64()
	}
	return byPod, nil
}

func formatRates(m map[string]float64) string {
	var parts []string
	for pod, v := range m {
		parts = append(parts, fmt.Sprintf("%s %.1f/s", pod, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// TestAutoscalingRequestsPerSecond: with the HPA on the seed's Pods metric alone, 200
// requests/s on one pod (the target is 100 per pod) raise the replicas through
// prometheus-adapter, whose custom metrics API shows the metric per pod; once the load stops
// the HPA scales back to minReplicas.
func TestAutoscalingRequestsPerSecond(t *testing.T) {
	parallel(t)
	const minReplicas = 1
	a, _ := monitoredApp(t, requestsPerSecondValues(minReplicas, 15))
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	color := a.activeColor()
	name := release + "-" + color

	hpa, err := a.c.Clientset.AutoscalingV2().HorizontalPodAutoscalers(a.ns).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, hpa.Spec.Metrics, 1, "the Pods metric alone")
	m := hpa.Spec.Metrics[0]
	require.Equal(t, autoscalingv2.PodsMetricSourceType, m.Type)
	require.Equal(t, "http_requests_per_second", m.Pods.Metric.Name)
	require.Equal(t, "100", m.Pods.Target.AverageValue.String())

	w := &hpaWatch{a: a, name: name, color: color}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadStart := time.Now()
	done := a.load(loadCtx, false, 2*time.Minute)
	err = w.poll(ctx, 2*time.Minute, func(s hpaSample) bool { return s.desired > minReplicas })
	scaledUp := w.last()
	if err == nil {
		// While the load runs: the API lists every pod of the colour, the new ones too.
		err = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
			byPod, err := a.customMetric()
			if err != nil {
				t.Logf("custom metrics API: %v", err)
				return false, nil
			}
			pods := a.podNames(ctx, color)
			t.Logf("custom metrics API: %s (pods %v)", formatRates(byPod), pods)
			return len(pods) > minReplicas && sameSet(mapKeys(byPod), pods), nil
		})
	}
	stopLoad()
	res := done()
	require.NoError(t, err, "the HPA never scaled %s above %d on http_requests_per_second, or the API never listed its pods (last: %s)", name, minReplicas, w.last())
	loadStop := time.Now()
	require.NotNil(t, scaledUp.rps, "the HPA read http_requests_per_second")
	assert.Greater(t, scaledUp.rps.AsApproximateFloat64(), 100.0, "above the target of 100 per pod when the HPA scaled up")
	assert.Positive(t, res.Total, "load was sent")

	// Back to minReplicas, read once a second: another test takes the slot meanwhile.
	lendSlot(t)
	err = w.poll(ctx, 150*time.Second, func(s hpaSample) bool {
		return s.desired == minReplicas && s.current == minReplicas && s.replicas == minReplicas
	})
	require.NoError(t, err, "the HPA never scaled %s back to %d after the load (last: %s)", name, minReplicas, w.last())
	downAfter := w.last().at.Sub(loadStop)

	rescales := w.rescaleEvents(ctx)
	t.Logf("HPA %s rescale events:\n  %s", name, strings.Join(rescales, "\n  "))
	assert.True(t, slices.ContainsFunc(rescales, func(m string) bool {
		return strings.Contains(m, "pods metric http_requests_per_second above target")
	}), "a scale-up was for http_requests_per_second above target: %v", rescales)
	t.Logf("autoscaling (http_requests_per_second through prometheus-adapter): scale-up decided %s after load start at %.1f/s per pod (target 100, 200 req/s); peak %d replicas (min %d); back at %d %s after load stop",
		scaledUp.at.Sub(loadStart).Round(100*time.Millisecond), scaledUp.rps.AsApproximateFloat64(), w.peak, minReplicas, minReplicas, downAfter.Round(100*time.Millisecond))
}

func mapKeys(m map[string]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestAutoscalingParityMidScale: while the HPA holds N > minReplicas under load on
// http_requests_per_second, `bluegreen deploy` brings the idle colour to N before the switch;
// after it the new colour's HPA takes over from N, not from minReplicas; and not one request
// of the load fails.
func TestAutoscalingParityMidScale(t *testing.T) {
	parallel(t)
	const minReplicas = 1
	// A minute's stabilisation: the new colour's rate starts from nothing at the switch.
	a, _ := monitoredApp(t, requestsPerSecondValues(minReplicas, 60))
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cs := a.c.Clientset

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	done := a.load(loadCtx, false, 5*time.Minute)
	w := &hpaWatch{a: a, name: release + "-blue", color: "blue"}
	err := w.poll(ctx, 150*time.Second, func(s hpaSample) bool {
		return s.desired > minReplicas && s.current == s.desired && s.replicas == s.desired && a.readyEndpointsNow() == int(s.desired)
	})
	if err != nil {
		stopLoad()
		done()
	}
	require.NoError(t, err, "the HPA never held blue above %d under load (last: %s)", minReplicas, w.last())
	n := w.last().current
	t.Logf("parity: blue's HPA holds %d replicas under 200 req/s (min %d)", n, minReplicas)

	// Follows the Service's colour and green's ready pods through the deploy.
	var (
		mu          sync.Mutex
		readyAtFlip = int32(-1)
		minAfter    = int32(1 << 30) // green's asked-for scale: what the HPA decides
		minReady    = int32(1 << 30) // its Ready pods: a pod starved of CPU may miss a probe
	)
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watched sync.WaitGroup
	watched.Add(1)
	go func() {
		defer watched.Done()
		_ = wait.PollUntilContextCancel(watchCtx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			svc, err1 := cs.CoreV1().Services(a.ns).Get(ctx, release, metav1.GetOptions{})
			d, err2 := cs.AppsV1().Deployments(a.ns).Get(ctx, release+"-green", metav1.GetOptions{})
			if err1 != nil || err2 != nil || svc.Spec.Selector["color"] != "green" {
				return false, nil
			}
			mu.Lock()
			defer mu.Unlock()
			if readyAtFlip < 0 {
				readyAtFlip = d.Status.ReadyReplicas
			}
			minAfter = min(minAfter, ptr.Deref(d.Spec.Replicas, 0))
			minReady = min(minReady, d.Status.ReadyReplicas)
			return false, nil
		})
	}()

	code, _, out := a.bluegreen(ctx, append([]string{"deploy", "--tag", stack.Versions[1]}, fastGates...)...)
	if code != 0 {
		stopWatch()
		stopLoad()
		done()
	}
	require.Equal(t, 0, code, "deploy:\n%s", lastLines(out, 30))

	// green's HPA starts at blue's scale: the parity is its minimum until `bluegreen finalize`
	// (the scale-down deadline) hands the size back to the HPA, by when green's rate window has
	// long filled. The HPA has acted on it: it reads its status every 15 s, so it may first
	// report the scale green had while its pods were being created.
	g := &hpaWatch{a: a, name: release + "-green", color: "green"}
	var hpa *autoscalingv2.HorizontalPodAutoscaler
	last := "no read"
	err = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		if hpa, err = cs.AutoscalingV2().HorizontalPodAutoscalers(a.ns).Get(ctx, release+"-green", metav1.GetOptions{}); err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("%+v", hpa.Status)
		return ptr.Deref(hpa.Status.ObservedGeneration, 0) >= hpa.Generation && hpa.Status.CurrentReplicas >= n, nil
	})
	require.NoError(t, err, "green's HPA never reconciled at %d current replicas (last: %s)", n, last)
	assert.Equal(t, n, ptr.Deref(hpa.Spec.MinReplicas, 0), "green's HPA starts at blue's scale")
	s, err := g.sample(ctx)
	require.NoError(t, err)
	stopWatch()
	watched.Wait()
	stopLoad()
	res := done()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("parity: green had %d ready pods when the Service switched to it; after the switch green's HPA (min %d) reads %s, green was never scaled below %d replicas (fewest Ready at once: %d)",
		readyAtFlip, ptr.Deref(hpa.Spec.MinReplicas, 0), s, minAfter, minReady)
	assert.GreaterOrEqual(t, readyAtFlip, n, "green at blue's scale before the switch")
	assert.GreaterOrEqual(t, s.desired, n, "green's HPA takes over from %d, not from its minimum", n)
	assert.GreaterOrEqual(t, s.current, n)
	assert.GreaterOrEqual(t, minAfter, n, "green never scaled below %d after the switch", n)
	assert.Zero(t, res.Non2xx+res.TransportErrors, "requests failed during the cutover at scale")
}
