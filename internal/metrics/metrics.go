// Package metrics defines the server's Prometheus metrics on a private registry. The request
// counter is named http_requests_total so that prometheus-adapter's `^(.*)_total$` rule derives
// the HPA's http_requests_per_second from it.
package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors and the registry that serves them.
type Metrics struct {
	Registry      *prometheus.Registry
	Requests      *prometheus.CounterVec
	Duration      *prometheus.HistogramVec
	DependencyUp  *prometheus.GaugeVec
	BuildInfo     *prometheus.GaugeVec
	InFlight      prometheus.Gauge
	ConnsRecycled prometheus.Counter

	// userRequests counts the requests of every route but the probe routes (/health, /ready,
	// /metrics). /health reports it even with PROMETHEUS_ENABLED=false, so a cutover can
	// still tell when clients have left a colour.
	userRequests atomic.Int64
	// userInFlight is the user requests being served now (a chat stream lasts minutes): the
	// cutover scales a colour down only once it is zero.
	userInFlight atomic.Int64
}

// ProbeRoutes are the kubelet's, Prometheus's and the cutover command's own requests.
var ProbeRoutes = map[string]bool{"/health": true, "/ready": true, "/metrics": true}

// UserRequests is how many requests this process served on the routes users call.
func (m *Metrics) UserRequests() int64 { return m.userRequests.Load() }

// UserInFlight is how many requests on the routes users call are being served now.
func (m *Metrics) UserInFlight() int64 { return m.userInFlight.Load() }

// New registers every collector, with process and Go runtime collectors, and sets build info.
func New(version, color string) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latency, by method and route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"method", "route"}),
		DependencyUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ai_assistant_dependency_up",
			Help: "1 if the dependency's last readiness check passed, else 0 (absent when not configured).",
		}, []string{"dependency"}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ai_assistant_build_info",
			Help: "Always 1; labels name the version and blue-green colour of this process.",
		}, []string{"version", "color"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ai_assistant_http_requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
		ConnsRecycled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ai_assistant_connections_recycled_total",
			Help: "Responses that closed their keep-alive connection because it reached its maximum age or request count.",
		}),
	}
	m.Registry.MustRegister(m.Requests, m.Duration, m.DependencyUp, m.BuildInfo, m.InFlight, m.ConnsRecycled,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.BuildInfo.WithLabelValues(version, color).Set(1)
	// A counter vector with no child is not exported at all: start the users' route at zero,
	// so a pod that has served nothing yet still shows http_requests_total (the cutover's
	// drain reads it, and rate() needs the zero).
	m.Requests.WithLabelValues(http.MethodPost, "/v1/chat/completions", "200")
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// SetDependency records a readiness check outcome.
func (m *Metrics) SetDependency(name string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.DependencyUp.WithLabelValues(name).Set(v)
}

// Middleware counts and times every request under its ServeMux route pattern ("/ready",
// "/v1/chat/completions"; "unmatched" for 404s so arbitrary paths cannot explode cardinality).
// It must wrap the ServeMux directly: the mux records the matched pattern on the request.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.InFlight.Inc()
		defer m.InFlight.Dec()
		if !ProbeRoutes[r.URL.Path] {
			m.userInFlight.Add(1)
			defer m.userInFlight.Add(-1)
		}
		rw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rw, r)
		route := Route(r.Pattern)
		// By path too: with /metrics off, the cutover's scrape is an unmatched 404, not a user's.
		if !ProbeRoutes[route] && !ProbeRoutes[r.URL.Path] {
			m.userRequests.Add(1)
		}
		m.Requests.WithLabelValues(r.Method, route, strconv.Itoa(rw.code)).Inc()
		m.Duration.WithLabelValues(r.Method, route).Observe(time.Since(start).Seconds())
	})
}

// Route turns a ServeMux pattern such as "GET /ready" into its path part.
func Route(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = pattern[i+1:]
	}
	return pattern
}

// statusWriter remembers the status code; Unwrap lets http.ResponseController reach Flush.
type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	w.wroteHeader = true
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
