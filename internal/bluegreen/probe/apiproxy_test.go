package probe_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/probe"
)

// A loopback server plays the API server: the prober must ask for the proxy
// subresource and hand back every status and header, not only 2xx bodies.
func TestAPIProxyUsesTheProxySubresource(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		paths []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.Header().Set("X-App-Color", "green")
		if r.URL.Path == "/api/v1/namespaces/prod/services/ai-assistant-preview:http/proxy/ready" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"not_ready","checks":{"redis":"down"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"healthy"}`))
	}))
	defer srv.Close()

	p, err := probe.NewAPIProxy(&rest.Config{Host: srv.URL}, 5*time.Second)
	require.NoError(t, err)

	resp, err := p.Pod(context.Background(), "prod", "ai-assistant-green-abc", "8000", "/health")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.Status)
	assert.Equal(t, "green", resp.Header.Get("X-App-Color"))

	resp, err = p.Service(context.Background(), "prod", "ai-assistant-preview", "http", "/ready")
	require.NoError(t, err, "a 503 is an answer, not a transport error")
	assert.Equal(t, 503, resp.Status)
	assert.Contains(t, string(resp.Body), `"redis":"down"`)

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{
		"/api/v1/namespaces/prod/pods/ai-assistant-green-abc:8000/proxy/health",
		"/api/v1/namespaces/prod/services/ai-assistant-preview:http/proxy/ready",
	}, paths)
}

func TestAPIProxyTransportErrorSaysWhat(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens any more
	p, err := probe.NewAPIProxy(&rest.Config{Host: srv.URL}, time.Second)
	require.NoError(t, err)
	_, err = p.Pod(context.Background(), "prod", "x", "8000", "/ready")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "get pods/x:8000/ready through the api server proxy")
}
