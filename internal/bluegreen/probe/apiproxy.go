// Package probe reaches pods and Services through the API server's proxy
// subresource (pods/<name>:<port>/proxy/<path>), so the cutover's gates work from
// outside the cluster with nothing but a kubeconfig.
package probe

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/gate"
)

// maxBody bounds what one probe reads: health and metrics pages are small.
const maxBody = 4 << 20

// APIProxy is a gate.Prober over the API server's proxy subresource.
type APIProxy struct {
	rest    rest.Interface
	http    *http.Client
	timeout time.Duration
}

var _ gate.Prober = (*APIProxy)(nil)

// NewAPIProxy builds a prober from a REST config; each probe is bounded by timeout.
func NewAPIProxy(cfg *rest.Config, timeout time.Duration) (*APIProxy, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("build kubernetes client for the prober: %w", err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("build http client for the prober: %w", err)
	}
	return &APIProxy{rest: cs.CoreV1().RESTClient(), http: hc, timeout: timeout}, nil
}

// Pod probes pods/<pod>:<port>/proxy/<path>.
func (a *APIProxy) Pod(ctx context.Context, namespace, pod, port, path string) (*gate.Response, error) {
	return a.get(ctx, namespace, "pods", pod+":"+port, path)
}

// Service probes services/<service>:<port>/proxy/<path>; port is the Service port's name.
func (a *APIProxy) Service(ctx context.Context, namespace, service, port, path string) (*gate.Response, error) {
	return a.get(ctx, namespace, "services", service+":"+port, path)
}

func (a *APIProxy) get(ctx context.Context, namespace, resource, name, path string) (*gate.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	// The REST builder only forms the URL; the request goes through the plain HTTP
	// client so every status and header comes back, not just 2xx bodies.
	u := a.rest.Get().Namespace(namespace).Resource(resource).Name(name).
		SubResource("proxy").Suffix(strings.TrimPrefix(path, "/")).URL()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build request for %s/%s%s: %w", resource, name, path, err)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s/%s%s through the api server proxy: %w", resource, name, path, err)
	}
	defer func() { _ = resp.Body.Close() }() // the body was read in full or the error is reported
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("read %s/%s%s: %w", resource, name, path, err)
	}
	return &gate.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}
