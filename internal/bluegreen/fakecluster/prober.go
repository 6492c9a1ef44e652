package fakecluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/gate"
)

var _ gate.Prober = (*Cluster)(nil)

// Pod answers a probe of a pod the simulation runs, as the app would.
func (c *Cluster) Pod(ctx context.Context, namespace, pod, port, path string) (*gate.Response, error) {
	p, err := c.Kube.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("fake proxy to pod %s: %w", pod, err)
	}
	image := ""
	if len(p.Spec.Containers) > 0 {
		image = p.Spec.Containers[0].Image
	}
	return c.answer(ctx, Probe{Kind: "pod", Name: pod, Port: port, Color: p.Labels["color"], Path: path}, image), nil
}

// Service answers through the colour the Service selects, or 503 without endpoints.
func (c *Cluster) Service(ctx context.Context, namespace, service, port, path string) (*gate.Response, error) {
	s, err := c.Kube.CoreV1().Services(namespace).Get(ctx, service, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("fake proxy to service %s: %w", service, err)
	}
	color := s.Spec.Selector["color"]
	pods, err := c.Kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: s.Spec.Selector})})
	if err != nil {
		return nil, fmt.Errorf("fake proxy to service %s: %w", service, err)
	}
	image := ""
	for _, p := range pods.Items {
		for _, cond := range p.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == "True" && len(p.Spec.Containers) > 0 {
				image = p.Spec.Containers[0].Image
			}
		}
	}
	probe := Probe{Kind: "service", Name: service, Port: port, Color: color, Path: path}
	if image == "" {
		c.record(ctx, probe)
		return &gate.Response{Status: http.StatusServiceUnavailable, Header: http.Header{}, Body: []byte("no endpoints available for service " + service)}, nil
	}
	return c.answer(ctx, probe, image), nil
}

func (c *Cluster) record(ctx context.Context, p Probe) Probe {
	if main, err := c.activeSelector(ctx); err == nil {
		p.Active = main
	}
	c.mu.Lock()
	c.probes = append(c.probes, p)
	c.mu.Unlock()
	return p
}

// activeSelector is the colour the main Service (the one without -preview) selects.
func (c *Cluster) activeSelector(ctx context.Context) (string, error) {
	svcs, err := c.Kube.CoreV1().Services(c.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	for _, s := range svcs.Items {
		if s.Labels["ai-assistant.io/role"] == "active" || (s.Labels["ai-assistant.io/role"] == "" && !strings.HasSuffix(s.Name, "-preview")) {
			return s.Spec.Selector["color"], nil
		}
	}
	return "", nil
}

func (c *Cluster) answer(ctx context.Context, p Probe, image string) *gate.Response {
	p = c.record(ctx, p)
	version := image
	if i := strings.LastIndexAny(image, ":@"); i >= 0 {
		version = image[i+1:]
	}
	h := http.Header{}
	h.Set(gate.HeaderColor, p.Color)
	h.Set(gate.HeaderVersion, version)
	c.mu.Lock()
	respond := c.Respond
	c.mu.Unlock()
	if respond != nil {
		if status, ok := respond(p); ok {
			return &gate.Response{Status: status, Header: h, Body: []byte(fmt.Sprintf(`{"status":"not_ready","probe":%q}`, p.Path))}
		}
	}
	c.mu.Lock()
	noMetrics := c.NoMetrics[p.Color]
	c.mu.Unlock()
	switch {
	case p.Path == "/metrics" && noMetrics:
		return &gate.Response{Status: http.StatusNotFound, Header: h, Body: []byte("404 page not found")}
	case p.Path == "/metrics":
		return &gate.Response{Status: http.StatusOK, Header: h, Body: c.metrics(p)}
	case p.Path == "/health" && (noMetrics || c.InFlight != nil):
		body := map[string]any{"status": "healthy"}
		if noMetrics {
			// The server's /health counts user requests for a cutover when /metrics is off.
			body["user_requests_total"] = c.advance(p)
		}
		if c.InFlight != nil {
			body["user_requests_in_flight"] = c.InFlight(p)
		}
		b, _ := json.Marshal(body) // a map of numbers and strings always marshals
		return &gate.Response{Status: http.StatusOK, Header: h, Body: b}
	}
	return &gate.Response{Status: http.StatusOK, Header: h, Body: []byte(`{"status":"ready"}`)}
}

// metrics advances the pod's user-request counter by what its colour's traffic
// says for this scrape and renders it beside probe-route counters that must be ignored.
func (c *Cluster) metrics(p Probe) []byte {
	users := c.advance(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.scrapes[p.Name] - 1
	return []byte(fmt.Sprintf(`# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{method="POST",route="/v1/chat/completions",code="200"} %g
http_requests_total{method="GET",route="/ready",code="200"} %d
http_requests_total{method="GET",route="/metrics",code="200"} %d
`, users, 1000*(n+1), 1000*(n+1)))
}

// advance counts one scrape of a pod and adds what its colour's user traffic says for it;
// it returns the pod's user-request total.
func (c *Cluster) advance(p Probe) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.scrapes[p.Name]
	c.scrapes[p.Name] = n + 1
	if f := c.UserTraffic[p.Color]; f != nil {
		c.counters[p.Name] += f(n)
	}
	return c.counters[p.Name]
}
