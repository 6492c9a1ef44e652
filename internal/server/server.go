// Package server assembles the ai-assistant HTTP server: health and readiness endpoints,
// metrics, the LLM proxy, CORS, identity headers, bounded connection lifetimes and draining.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/config"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/llmproxy"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/metrics"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/readiness"
)

// Response headers naming who served a request; integration tests watch them during a cutover.
const (
	HeaderVersion = "X-App-Version"
	HeaderColor   = "X-App-Color"
)

// Server is one ai-assistant process.
type Server struct {
	cfg     config.Config
	version string
	color   string
	log     *slog.Logger
	started time.Time

	Ready   *readiness.Checker
	depMu   sync.Mutex
	depUp   map[string]bool // last outcome per dependency, to log changes only
	Metrics *metrics.Metrics
	http    *http.Server
	closers []func()
}

// New builds the server from its configuration. Dependency clients are created lazily: no
// connection is attempted until the first readiness check.
func New(cfg config.Config, version string, log *slog.Logger) (*Server, error) {
	s := &Server{cfg: cfg, version: version, color: cfg.Color, log: log, started: time.Now()}
	if s.color == "" {
		s.color = "none"
	}
	s.Metrics = metrics.New(version, s.color)

	checks, skipped, err := s.dependencyChecks()
	if err != nil {
		return nil, err
	}
	s.Ready = readiness.New(checks,
		readiness.WithTTL(cfg.ReadyCacheTTL),
		readiness.WithTimeout(cfg.ReadyCheckTimeout),
		readiness.WithSkipped(skipped...),
		readiness.WithObserver(s.observeDependency),
	)

	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		ConnContext:       withConnInfo,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// dependencyChecks returns a check per configured dependency and the names of the others.
func (s *Server) dependencyChecks() ([]readiness.Check, []string, error) {
	var checks []readiness.Check
	var skipped []string
	if s.cfg.DatabaseURL != "" {
		pg, err := readiness.NewPostgres(s.cfg.DatabaseURL)
		if err != nil {
			return nil, nil, err
		}
		checks = append(checks, pg)
		s.closers = append(s.closers, pg.Close)
	} else {
		skipped = append(skipped, "database")
	}
	if s.cfg.RedisURL != "" {
		rd, err := readiness.NewRedis(s.cfg.RedisURL)
		if err != nil {
			return nil, nil, err
		}
		checks = append(checks, rd)
		s.closers = append(s.closers, func() { _ = rd.Close() })
	} else {
		skipped = append(skipped, "redis")
	}
	if s.cfg.VectorDBHost != "" {
		addr := net.JoinHostPort(s.cfg.VectorDBHost, strconv.Itoa(s.cfg.VectorDBPort))
		checks = append(checks, readiness.TCP{CheckName: "vector_db", Addr: addr})
	} else {
		skipped = append(skipped, "vector_db")
	}
	if s.cfg.LLMBaseURL != "" {
		// DEFAULT_MODEL must be listed: requests that name no model are sent with it.
		checks = append(checks, readiness.LLM{BaseURL: s.cfg.LLMBaseURL, APIKey: s.cfg.LLMAPIKey, Model: s.cfg.DefaultModel})
	} else {
		skipped = append(skipped, "llm")
	}
	return checks, skipped, nil
}

// observeDependency updates the dependency gauge and logs each change of state, so an outage
// and its recovery appear once in the log rather than on every probe.
func (s *Server) observeDependency(name string, up bool) {
	s.Metrics.SetDependency(name, up)
	s.depMu.Lock()
	defer s.depMu.Unlock()
	if s.depUp == nil {
		s.depUp = map[string]bool{}
	}
	prev, seen := s.depUp[name]
	s.depUp[name] = up
	switch {
	case !up && (!seen || prev):
		s.log.Warn("dependency check failing", "dependency", name)
	case up && seen && !prev:
		s.log.Info("dependency check recovered", "dependency", name)
	}
}

// Handler returns the full middleware chain; exposed so tests can use httptest.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("GET /ready", s.ready)
	mux.HandleFunc("GET /{$}", s.root)
	if s.cfg.PrometheusEnabled {
		mux.Handle("GET /metrics", s.Metrics.Handler())
	}
	mux.Handle("POST /v1/chat/completions",
		llmproxy.New(s.cfg.LLMBaseURL, s.cfg.LLMAPIKey, s.cfg.DefaultModel, s.cfg.MaxTokens, s.log))

	var h http.Handler = mux
	h = s.Metrics.Middleware(h) // innermost, so it sees the mux's route pattern
	h = accessLog(s.log, h)
	h = cors(s.cfg.CORSOrigins, h)
	h = s.limitConnection(h)
	h = s.identify(h)
	return h
}

// Serve serves on ln until ctx is cancelled (SIGTERM in main), then drains: see Drain.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.log.Info("serving", "addr", ln.Addr().String(), "version", s.version, "color", s.color,
		"max_connection_age", s.cfg.MaxConnectionAge.String(), "max_connection_requests", s.cfg.MaxConnectionRequests)
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(ln) }()
	select {
	case err := <-errc:
		s.close()
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	err := s.Drain()
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("serve on %s: %w", ln.Addr(), serr))
	}
	return err
}

// Drain shuts down within ShutdownTimeout: /ready turns 503 at once, keep-alives are disabled
// (idle connections close now, busy ones after their response), the listener stays open for
// ShutdownDelay, then in-flight requests are waited for.
func (s *Server) Drain() error {
	start := time.Now()
	s.Ready.SetDraining()
	s.http.SetKeepAlivesEnabled(false)
	s.log.Info("draining", "delay", s.cfg.ShutdownDelay.String(), "timeout", s.cfg.ShutdownTimeout.String())
	defer s.close()

	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if s.cfg.ShutdownDelay > 0 {
		t := time.NewTimer(s.cfg.ShutdownDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	if err := s.http.Shutdown(ctx); err != nil {
		_ = s.http.Close()
		return fmt.Errorf("drain in-flight requests within %s: %w", s.cfg.ShutdownTimeout, err)
	}
	s.log.Info("drained", "elapsed", time.Since(start).Round(time.Millisecond).String())
	return nil
}

func (s *Server) close() {
	for _, c := range s.closers {
		c()
	}
	s.closers = nil
}

func (s *Server) root(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"name": "ai-assistant", "version": s.version, "color": s.color})
}

// health is liveness: it never touches a dependency, so a database outage cannot restart pods.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"status":         "healthy",
		"uptime_seconds": time.Since(s.started).Seconds(),
		// The cutover's drain signal when /metrics is off (PROMETHEUS_ENABLED=false).
		"user_requests_total": s.Metrics.UserRequests(),
		// What `bluegreen finalize` waits for before it scales this colour down.
		"user_requests_in_flight": s.Metrics.UserInFlight(),
	})
}

// ready is readiness: 503 with the failing checks named, or while draining.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	rep := s.Ready.Report(r.Context())
	code := http.StatusOK
	if !rep.Ready {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, rep)
}

// identify stamps every response with the version and colour that served it.
func (s *Server) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderVersion, s.version)
		w.Header().Set(HeaderColor, s.color)
		next.ServeHTTP(w, r)
	})
}

func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		next.ServeHTTP(w, r)
		log.Debug("request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr,
			"elapsed", time.Since(start).String())
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
