package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	appmetrics "github.com/ai-assistant-chart/ai-assistant-chart/internal/metrics"
)

// Endpoints waits until a Service's ready endpoints are the colour's pods: every Ready pod that
// podsNow lists (the Deployment's, read afresh each time), and nothing else, so no old colour's
// pod: a pod an autoscaler added or a rollout replaced after the switch is fine.
func Endpoints(ctx context.Context, kube kubernetes.Interface, namespace, service, deployment string, podsNow func(context.Context) ([]corev1.Pod, error), interval time.Duration) error {
	err := Poll(ctx, interval, func(ctx context.Context) (bool, string, error) {
		pods, err := podsNow(ctx)
		if err != nil {
			return false, "", err
		}
		allowed, required := map[string]bool{}, map[string]bool{}
		for _, p := range pods {
			if p.Status.PodIP == "" {
				continue
			}
			allowed[p.Status.PodIP] = true
			if PodReady(p) {
				required[p.Status.PodIP] = true
			}
		}
		if len(required) == 0 && len(allowed) > 0 {
			// Every pod runs and none is Ready: the kubelet took them all out of the endpoints,
			// which will not settle. Traffic must go back now, not at the drain timeout.
			return false, "", fmt.Errorf("no pod of %s is Ready (%d running): their readiness probes fail", deployment, len(allowed))
		}
		got, err := ReadyEndpoints(ctx, kube, namespace, service)
		if err != nil {
			return false, "", err
		}
		if len(required) > 0 && subset(required, got) && subset(got, allowed) {
			return true, "", nil
		}
		return false, fmt.Sprintf("service %s endpoints %v to be the Ready pods of %s %v", service, sortedKeys(got), deployment, sortedKeys(required)), nil
	})
	if err != nil {
		return fmt.Errorf("verify endpoints of service %s: %w", service, err)
	}
	return nil
}

// ReadyEndpoints returns the ready addresses of a Service's EndpointSlices.
func ReadyEndpoints(ctx context.Context, kube kubernetes.Interface, namespace, service string) (map[string]bool, error) {
	slices, err := kube.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + service,
	})
	if err != nil {
		return nil, fmt.Errorf("list endpointslices of service %s: %w", service, err)
	}
	got := map[string]bool{}
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				got[a] = true
			}
		}
	}
	return got, nil
}

// Traffic reads request counters from pods' /metrics to tell whether a colour
// still serves users: keep-alive connections survive a selector switch.
type Traffic struct {
	Prober    Prober
	Namespace string
	Port      string
	Interval  time.Duration // between the two samples of one rate
	MaxRate   float64       // requests per second counted as drained
	Log       Logf
}

// Drained waits until the user request rate of the pods that pods lists (afresh for each
// sample) is at most MaxRate.
func (t Traffic) Drained(ctx context.Context, pods func(context.Context) ([]corev1.Pod, error)) error {
	start := time.Now()
	prev, signal, err := t.sample(ctx, pods)
	if err != nil {
		return err
	}
	t.Log("  old colour: user requests read from %s", signal)
	prevAt := time.Now()
	lastRate := -1.0
	waiting := "the first sample interval"
	err = Poll(ctx, t.Interval, func(ctx context.Context) (bool, string, error) {
		if time.Since(prevAt) < t.Interval/2 {
			// Too soon for a rate (the poll's first call comes at once, and a slow scrape
			// shortens the next interval): keep reporting the last rate, which a timeout names.
			return false, waiting, nil
		}
		cur, _, err := t.sample(ctx, pods)
		if err != nil {
			return false, "", err
		}
		now := time.Now()
		rate := rateBetween(prev, cur, now.Sub(prevAt))
		prev, prevAt = cur, now
		if rate != lastRate {
			t.Log("  old colour: %.2f user requests/s (drained at <= %.2f, %s)", rate, t.MaxRate, time.Since(start).Round(time.Second))
			lastRate = rate
		}
		waiting = fmt.Sprintf("the old colour's request rate (%.2f/s) to fall to %.2f/s", rate, t.MaxRate)
		return rate <= t.MaxRate, waiting, nil
	})
	if err != nil {
		return fmt.Errorf("verify traffic left the old colour: %w", err)
	}
	return nil
}

// Where sample read the user requests from, for the log.
const (
	signalMetrics = "/metrics (http_requests_total)"
	signalHealth  = "/health (user_requests_total): the pods serve no /metrics (PROMETHEUS_ENABLED=false)"
)

// sample returns each pod's total of user requests and where it read them: /metrics, or on
// a pod that serves none (PROMETHEUS_ENABLED=false), the count /health always reports.
func (t Traffic) sample(ctx context.Context, podsNow func(context.Context) ([]corev1.Pod, error)) (map[string]float64, string, error) {
	out := map[string]float64{}
	signal := signalMetrics
	// The pods are listed afresh for each sample: one a drain or a rollout replaced is gone,
	// and its replacement counts from zero.
	pods, err := podsNow(ctx)
	if err != nil {
		return nil, "", err
	}
	for _, p := range pods {
		// A pod with no address yet (a rollout's new pod, Pending) serves no one: the API
		// server's proxy answers 400 for it, which must not fail the check.
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			continue
		}
		resp, err := t.Prober.Pod(ctx, t.Namespace, p.Name, t.Port, "/metrics")
		if p.DeletionTimestamp != nil && (err != nil || resp.Status != http.StatusOK) {
			continue // going away as it was scraped (a rollout replaced it): it serves no one now
		}
		if err != nil {
			return nil, "", fmt.Errorf("scrape pod %s /metrics: %w", p.Name, err)
		}
		if resp.Status == http.StatusNotFound {
			n, err := t.fromHealth(ctx, p.Name)
			if err != nil {
				return nil, "", err
			}
			out[p.Name], signal = n, signalHealth
			continue
		}
		if resp.Status != http.StatusOK {
			return nil, "", fmt.Errorf("scrape pod %s /metrics: status %d", p.Name, resp.Status)
		}
		n, err := UserRequests(resp.Body)
		if err != nil {
			return nil, "", fmt.Errorf("scrape pod %s /metrics: %w", p.Name, err)
		}
		out[p.Name] = n
	}
	return out, signal, nil
}

// fromHealth reads user_requests_total from a pod's /health.
func (t Traffic) fromHealth(ctx context.Context, pod string) (float64, error) {
	h, err := t.health(ctx, pod)
	if err != nil {
		return 0, fmt.Errorf("pod %s serves no /metrics; %w", pod, err)
	}
	if h.UserRequests == nil {
		return 0, fmt.Errorf("pod %s serves no /metrics and its /health (status %d) has no user_requests_total: an image older than the chart's drain check; pass --max-old-rate -1 to skip it", pod, h.status)
	}
	return *h.UserRequests, nil
}

// healthCounts is what a pod's /health reports about its user requests; a field an older
// image does not report is nil, and so is every field of an answer other than 200.
type healthCounts struct {
	UserRequests *float64 `json:"user_requests_total"`
	InFlight     *float64 `json:"user_requests_in_flight"`
	status       int
}

// health reads a pod's /health counts.
func (t Traffic) health(ctx context.Context, pod string) (healthCounts, error) {
	resp, err := t.Prober.Pod(ctx, t.Namespace, pod, t.Port, "/health")
	if err != nil {
		return healthCounts{}, fmt.Errorf("read /health: %w", err)
	}
	h := healthCounts{status: resp.Status}
	if resp.Status != http.StatusOK || json.Unmarshal(resp.Body, &h) != nil {
		return healthCounts{status: resp.Status}, nil
	}
	return h, nil
}

// UserRequests sums http_requests_total over every route but the probe routes.
func UserRequests(metrics []byte) (float64, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(metrics))
	if err != nil {
		return 0, fmt.Errorf("parse metrics: %w", err)
	}
	fam, ok := families["http_requests_total"]
	if !ok {
		return 0, fmt.Errorf("no http_requests_total in the metrics")
	}
	total := 0.0
	for _, m := range fam.GetMetric() {
		route := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" {
				route = l.GetValue()
			}
		}
		if appmetrics.ProbeRoutes[route] {
			continue
		}
		if c := m.GetCounter(); c != nil {
			total += c.GetValue()
		} else if u := m.GetUntyped(); u != nil {
			total += u.GetValue()
		}
	}
	return total, nil
}

// rateBetween is the summed per-second increase; a pod whose counter went down
// restarted, so its whole current count is new.
func rateBetween(prev, cur map[string]float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	sum := 0.0
	for pod, c := range cur {
		delta := c - prev[pod]
		if delta < 0 {
			delta = c
		}
		sum += delta
	}
	return sum / d.Seconds()
}

// Soak probes the targets every interval until ctx's deadline; more failed rounds in a row
// than FailureLimit end it. It is the post-switch check: the new colour under real traffic.
// A round started before the deadline runs to its end (see withoutDeadline); one that an
// interrupt cuts short is not judged.
func (h Health) Soak(ctx context.Context, wantColor string, targets []Target) error {
	rounds, own := 0, 0
	failed := h.Streak
	if failed == nil {
		failed = &own
	}
	t := time.NewTicker(h.Interval)
	defer t.Stop()
	for {
		rctx, cancel := withoutDeadline(ctx)
		err := h.round(rctx, wantColor, targets)
		interrupted := rctx.Err() != nil
		cancel()
		if err != nil {
			if interrupted && !err.Answered {
				return ctx.Err() // cut off by the stop, not failed
			}
			// A failure budget, like Argo Rollouts' consecutiveErrorLimit: one hiccup of the
			// API server's proxy must not revert a good cutover; a colour that keeps failing does.
			// A target that answered wrongly counts even in a round being stopped: dropping it
			// lost the one failure a --failure-limit 0 run had to switch back on.
			if *failed++; *failed > h.FailureLimit {
				return fmt.Errorf("%w (%d failed rounds in a row; --failure-limit tolerates %d)", err, *failed, h.FailureLimit)
			}
			h.Log("  post-switch check: %s (failed round %d in a row, %d tolerated)", err, *failed, h.FailureLimit)
		} else {
			*failed = 0
			rounds++
		}
		select {
		case <-ctx.Done():
			if IsTimeout(ctx.Err()) {
				h.Log("  post-switch check: %d rounds passed", rounds)
				return nil
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}

// subset reports whether every key of a is in b.
func subset(a, b map[string]bool) bool {
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]bool) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "[" + strings.Join(keys, " ") + "]"
}

// Idle waits until no pod that pods lists (afresh each round) is serving a user request: a
// chat stream may last minutes after its colour stopped taking new traffic. It reads each pod's
// /health user_requests_in_flight, which the server reports with or without /metrics; a pod
// whose image reports none is not waited for, and the log says so.
func (t Traffic) Idle(ctx context.Context, pods func(context.Context) ([]corev1.Pod, error)) error {
	start := time.Now()
	last, unknown := "", map[string]bool{}
	return Poll(ctx, t.Interval, func(ctx context.Context) (bool, string, error) {
		list, err := pods(ctx)
		if err != nil {
			return false, "", err
		}
		total, busy := 0.0, []string{}
		for _, p := range list {
			n, ok, err := t.inFlight(ctx, p.Name)
			if err != nil {
				return false, "", err
			}
			if !ok {
				if !unknown[p.Name] {
					t.Log("  pod %s reports no user_requests_in_flight on /health (an older image): not waited for", p.Name)
					unknown[p.Name] = true
				}
				continue
			}
			if n > 0 {
				total += n
				busy = append(busy, fmt.Sprintf("%s: %g", p.Name, n))
			}
		}
		waiting := fmt.Sprintf("%g user requests in flight (%s)", total, strings.Join(busy, ", "))
		if total > 0 && waiting != last {
			t.Log("  %s, %s so far", waiting, time.Since(start).Round(time.Second))
			last = waiting
		}
		return total == 0, waiting, nil
	})
}

// inFlight reads a pod's user requests in flight from /health; ok is false when it has none.
// The /health request itself is a probe route: the server does not count it.
func (t Traffic) inFlight(ctx context.Context, pod string) (n float64, ok bool, err error) {
	h, err := t.health(ctx, pod)
	if err != nil {
		return 0, false, fmt.Errorf("pod %s: %w", pod, err)
	}
	if h.InFlight == nil {
		return 0, false, nil
	}
	return *h.InFlight, true, nil
}
