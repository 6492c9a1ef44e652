//go:build apiserver

package realapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/gate"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/config"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/server"
)

// app is the ai-assistant server each pod would run, reached the way the API server's proxy
// reaches it: a pod that is not running with an IP cannot be reached, and a Service answers
// through one of the ready pods its EndpointSlices (written by the real endpointslice
// controller) list, or 503 without one. Each pod's answers come from a real server.Server built
// from the pod's own env (APP_COLOR, PORT, the colour's env) and the version its image tag
// names, with no dependency configured: /ready, /health and /metrics answer in the server's
// words and headers. It is the cutover's gate.Prober and the kubelet's readiness probe.
type app struct {
	kube kubernetes.Interface

	mu      sync.Mutex
	servers map[types.UID]http.Handler
	// failing makes a version's path answer 503, as a server whose check fails would.
	failing map[string]string
	// onProbe, when set, runs before the cutover's probe of a pod or Service is answered.
	onProbe func(kind, name, path string, pod *corev1.Pod)
	next    atomic.Uint64 // round-robin over a Service's endpoints
}

var _ gate.Prober = (*app)(nil)

func newApp(kube kubernetes.Interface) *app {
	return &app{kube: kube, servers: map[types.UID]http.Handler{}, failing: map[string]string{}}
}

// fail makes every pod of version answer path with 503 until heal.
func (a *app) fail(version, path string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failing[version] = path
}

func (a *app) heal(version string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.failing, version)
}

func (a *app) setOnProbe(fn func(kind, name, path string, pod *corev1.Pod)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onProbe = fn
}

// Pod answers GET path on a pod, as the API server's pod proxy would.
func (a *app) Pod(ctx context.Context, namespace, pod, port, path string) (*gate.Response, error) {
	p, err := a.kube.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("proxy to pod %s: %w", pod, err)
	}
	if err := reachable(p, port); err != nil {
		return nil, err
	}
	a.hook("pod", pod, path, p)
	return a.serve(p, path)
}

// Service answers GET path through a Service, as the API server's service proxy would.
func (a *app) Service(ctx context.Context, namespace, service, port, path string) (*gate.Response, error) {
	s, err := a.kube.CoreV1().Services(namespace).Get(ctx, service, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("proxy to service %s: %w", service, err)
	}
	named := false
	for _, sp := range s.Spec.Ports {
		named = named || sp.Name == port
	}
	if !named {
		return nil, fmt.Errorf("proxy to service %s: no port named %q", service, port)
	}
	slices, err := a.kube.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return nil, fmt.Errorf("proxy to service %s: %w", service, err)
	}
	var pods []string
	for _, sl := range slices.Items {
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && *ep.Conditions.Ready && ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
				pods = append(pods, ep.TargetRef.Name)
			}
		}
	}
	if len(pods) == 0 {
		a.hook("service", service, path, nil)
		return &gate.Response{Status: http.StatusServiceUnavailable, Header: http.Header{},
			Body: []byte(fmt.Sprintf("no endpoints available for service %q", service))}, nil
	}
	name := pods[a.next.Add(1)%uint64(len(pods))]
	p, err := a.kube.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("proxy to service %s: endpoint pod %s: %w", service, name, err)
	}
	if err := reachable(p, ""); err != nil {
		return nil, fmt.Errorf("proxy to service %s: %w", service, err)
	}
	a.hook("service", service, path, p)
	return a.serve(p, path)
}

func (a *app) hook(kind, name, path string, p *corev1.Pod) {
	a.mu.Lock()
	fn := a.onProbe
	a.mu.Unlock()
	if fn != nil {
		fn(kind, name, path, p)
	}
}

// reachable is what the proxy needs to dial a pod: it runs, has an IP, and listens on port
// (a container port's number or name; "" for any).
func reachable(p *corev1.Pod, port string) error {
	if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.DeletionTimestamp != nil {
		return fmt.Errorf("proxy to pod %s: dial: pod is %s with IP %q (deleting: %t)", p.Name, p.Status.Phase, p.Status.PodIP, p.DeletionTimestamp != nil)
	}
	if port == "" {
		return nil
	}
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if strconv.Itoa(int(cp.ContainerPort)) == port || cp.Name == port {
				return nil
			}
		}
	}
	return fmt.Errorf("proxy to pod %s: dial %s:%s: connection refused (no container port %s)", p.Name, p.Status.PodIP, port, port)
}

// ready is the kubelet's readiness probe: GET /ready answers 2xx.
func (a *app) ready(p *corev1.Pod) bool {
	resp, err := a.serve(p, "/ready")
	return err == nil && resp.Status >= 200 && resp.Status < 300
}

// serve answers path with the pod's server.
func (a *app) serve(p *corev1.Pod, path string) (*gate.Response, error) {
	h, version, err := a.server(p)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	failing := a.failing[version] == path
	a.mu.Unlock()
	rec := httptest.NewRecorder()
	if failing {
		// What the server's own middleware stamps on every answer, over a failed check.
		rec.Header().Set(server.HeaderColor, podEnv(p)["APP_COLOR"])
		rec.Header().Set(server.HeaderVersion, version)
		rec.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(rec, `{"status":"unhealthy","injected":true}`)
	} else {
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	}
	res := rec.Result()
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("read answer of pod %s: %w", p.Name, err)
	}
	return &gate.Response{Status: res.StatusCode, Header: res.Header, Body: body}, nil
}

// server returns the pod's server, started on first use, and its version.
func (a *app) server(p *corev1.Pod) (http.Handler, string, error) {
	version := imageTag(p.Spec.Containers[0].Image)
	a.mu.Lock()
	defer a.mu.Unlock()
	if h, ok := a.servers[p.UID]; ok {
		return h, version, nil
	}
	env := podEnv(p)
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return nil, "", fmt.Errorf("pod %s: the server refuses its env: %w", p.Name, err)
	}
	s, err := server.New(cfg, version, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, "", fmt.Errorf("pod %s: start its server: %w", p.Name, err)
	}
	a.servers[p.UID] = s.Handler()
	return a.servers[p.UID], version, nil
}

// podEnv is the literal env of the pod's first container (the chart's APP_COLOR and PORT, and
// the colour's env); values from ConfigMaps and Secrets are left out, so no dependency is
// configured and /ready checks nothing.
func podEnv(p *corev1.Pod) map[string]string {
	env := map[string]string{}
	for _, e := range p.Spec.Containers[0].Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

func imageTag(image string) string {
	if i := strings.LastIndexAny(image, ":@"); i >= 0 && !strings.Contains(image[i:], "/") {
		return image[i+1:]
	}
	return "latest"
}
