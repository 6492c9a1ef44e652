package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRoute(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"GET /ready": "/ready", "/metrics": "/metrics", "": "unmatched", "POST /v1/chat/completions": "/v1/chat/completions"} {
		if got := Route(in); got != want {
			t.Errorf("Route(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMiddlewareCountsStatusAndFlushes(t *testing.T) {
	t.Parallel()
	m := New("v1", "blue")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /teapot", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		// Streaming handlers reach Flush through the wrapper via http.ResponseController.
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the middleware: %v", err)
		}
	})
	h := m.Middleware(mux)
	for range 2 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/teapot", nil))
	}
	if got := testutil.ToFloat64(m.Requests.WithLabelValues("GET", "/teapot", "418")); got != 2 {
		t.Errorf("http_requests_total for /teapot 418 = %v, want 2", got)
	}
	if err := testutil.CollectAndCompare(m.BuildInfo, strings.NewReader(`
# HELP ai_assistant_build_info Always 1; labels name the version and blue-green colour of this process.
# TYPE ai_assistant_build_info gauge
ai_assistant_build_info{color="blue",version="v1"} 1
`)); err != nil {
		t.Error(err)
	}
}

// TestAFreshProcessExportsTheRequestCounter: before any request, /metrics already lists
// http_requests_total (at zero on the users' route), so the cutover's drain can read a pod
// that has served nothing yet instead of failing on a missing counter.
func TestAFreshProcessExportsTheRequestCounter(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	New("v1", "blue").Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `http_requests_total{code="200",method="POST",route="/v1/chat/completions"} 0`) {
		t.Errorf("a fresh process's /metrics lacks the zero request counter:\n%s", rec.Body.String())
	}
}
