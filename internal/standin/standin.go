// Package standin is a small OpenAI-compatible LLM used by tests and the demo in place of a
// real provider (none is reachable from the cluster). It can be told, over a control API, to
// fail, hang or slow down and then to recover; the state can be scoped by a path prefix
// (/scope/<name>/v1/...) so that one blue-green colour can be made unready alone. It lists a
// configurable set of models and can require an API key, so a wrong key or an unlisted
// DEFAULT_MODEL can be shown to fail the server's readiness.
package standin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultScope is the scope of requests made without a /scope/<name> prefix.
const DefaultScope = "default"

// Behavior is the control state of one scope. The zero value is healthy and fast.
type Behavior struct {
	// Fail answers every /v1 request with HTTP 500.
	Fail bool `json:"fail"`
	// FailCompletions answers chat completions with HTTP 500 and still lists models:
	// inference down while the provider's API answers, which a readiness check (a model
	// list) cannot see, so the server stays in rotation and returns the errors.
	FailCompletions bool `json:"failCompletions"`
	// Hang holds every /v1 request open until the client gives up or the behaviour changes.
	Hang bool `json:"hang"`
	// Latency delays every /v1 response.
	Latency Duration `json:"latency"`
	// ChatLatency delays chat completions only, before their response headers: a model that
	// takes minutes to answer while its model list, which readiness checks, stays fast.
	ChatLatency Duration `json:"chatLatency"`
	// ChunkInterval paces a streamed answer: one chunk (word) per interval, so a long answer
	// streams for minutes, as a real model's does.
	ChunkInterval Duration `json:"chunkInterval"`
}

// behaviorKey carries the scope's behaviour to the handler.
type behaviorKey struct{}

// Duration is a time.Duration that reads and writes JSON as a Go duration string ("2s").
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("latency must be a duration string such as \"2s\": %w", err)
	}
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("parse latency: %w", err)
	}
	if v < 0 {
		return fmt.Errorf("latency %s is negative", v)
	}
	*d = Duration(v)
	return nil
}

// ScopeState is what GET /control reports for a scope.
type ScopeState struct {
	Behavior
	Requests int64 `json:"requests"`
}

// Server is the stand-in's HTTP handler and state.
type Server struct {
	models []string
	apiKey string // empty: none required
	mu     sync.Mutex
	scopes map[string]*scope
	mux    *http.ServeMux
}

type scope struct {
	behavior Behavior
	requests int64
	changed  chan struct{} // closed and replaced on every change, to release hung requests
}

// DefaultModels are the models a stand-in lists unless told otherwise.
var DefaultModels = []string{"deepseek-chat", "gpt-4o-mini"}

// An Option configures a stand-in.
type Option func(*Server)

// WithModels sets the models GET /v1/models lists (none given: DefaultModels).
func WithModels(models ...string) Option {
	return func(s *Server) {
		if len(models) > 0 {
			s.models = append([]string(nil), models...)
		}
	}
}

// WithAPIKey makes the /v1 API require "Authorization: Bearer <key>" and answer any other
// request 401 in the OpenAI error shape. An empty key requires none. /healthz and /control
// stay open.
func WithAPIKey(key string) Option { return func(s *Server) { s.apiKey = key } }

// New returns a stand-in; by default it lists DefaultModels and requires no API key.
func New(opts ...Option) *Server {
	s := &Server{models: append([]string(nil), DefaultModels...), scopes: map[string]*scope{}, mux: http.NewServeMux()}
	for _, o := range opts {
		o(s)
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /control", s.getControl)
	s.mux.HandleFunc("POST /control", s.postControl)
	s.mux.HandleFunc("GET /v1/models", s.api(DefaultScope, s.listModels))
	s.mux.HandleFunc("POST /v1/chat/completions", s.api(DefaultScope, s.chat))
	s.mux.HandleFunc("GET /scope/{scope}/v1/models", s.api("", s.listModels))
	s.mux.HandleFunc("POST /scope/{scope}/v1/chat/completions", s.api("", s.chat))
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Set replaces a scope's behaviour (what POST /control does).
func (s *Server) Set(name string, b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.scopeLocked(name)
	sc.behavior = b
	close(sc.changed)
	sc.changed = make(chan struct{})
}

// State returns a scope's behaviour and request count.
func (s *Server) State(name string) ScopeState {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.scopeLocked(name)
	return ScopeState{Behavior: sc.behavior, Requests: sc.requests}
}

func (s *Server) scopeLocked(name string) *scope {
	sc, ok := s.scopes[name]
	if !ok {
		sc = &scope{changed: make(chan struct{})}
		s.scopes[name] = sc
	}
	return sc
}

func scopeName(r *http.Request) string {
	if n := r.URL.Query().Get("scope"); n != "" {
		return n
	}
	return DefaultScope
}

func (s *Server) getControl(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.State(scopeName(r)))
}

func (s *Server) postControl(w http.ResponseWriter, r *http.Request) {
	var b Behavior
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil && err != io.EOF {
		writeError(w, http.StatusBadRequest, "invalid control body: "+err.Error())
		return
	}
	name := scopeName(r)
	s.Set(name, b)
	writeJSON(w, http.StatusOK, s.State(name))
}

// api applies the scope's behaviour before the real handler runs.
func (s *Server) api(fixed string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := fixed
		if name == "" {
			name = r.PathValue("scope")
		}
		s.mu.Lock()
		sc := s.scopeLocked(name)
		sc.requests++
		b, changed := sc.behavior, sc.changed
		s.mu.Unlock()

		w.Header().Set("X-Standin-Scope", name)
		if !s.authorized(r) {
			// Checked before the behaviour, as a provider refuses a bad key before anything else.
			w.Header().Set("WWW-Authenticate", `Bearer realm="llm-standin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
				"message": "Incorrect API key provided. The stand-in requires the key it was started with (STANDIN_API_KEY).",
				"type":    "invalid_request_error",
				"param":   nil,
				"code":    "invalid_api_key",
			}})
			return
		}
		if b.Hang {
			select {
			case <-r.Context().Done():
			case <-changed:
			}
			writeError(w, http.StatusServiceUnavailable, "stand-in was hanging")
			return
		}
		if b.Latency > 0 && !sleep(r.Context(), time.Duration(b.Latency)) {
			return
		}
		if b.Fail {
			writeError(w, http.StatusInternalServerError, "stand-in told to fail")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), behaviorKey{}, b)))
	}
}

// authorized reports whether r carries the configured key (any request when none is).
func (s *Server) authorized(r *http.Request) bool {
	if s.apiKey == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.apiKey)) == 1
}

// sleep waits d or until ctx ends; it reports whether the full delay elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) listModels(w http.ResponseWriter, _ *http.Request) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list"}
	for _, m := range s.models {
		out.Data = append(out.Data, model{ID: m, Object: "model", Created: 1700000000, OwnedBy: "llm-standin"})
	}
	writeJSON(w, http.StatusOK, out)
}

// ChatRequest is the part of an OpenAI chat completion request the stand-in reads.
type ChatRequest struct {
	Model     string    `json:"model"`
	Messages  []Message `json:"messages"`
	Stream    bool      `json:"stream"`
	MaxTokens int       `json:"max_tokens"`
}

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	if b, _ := r.Context().Value(behaviorKey{}).(Behavior); b.FailCompletions {
		writeError(w, http.StatusInternalServerError, "stand-in told to fail completions")
		return
	}
	var req ChatRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid chat request: "+err.Error())
		return
	}
	if req.Model == "" || len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "model and messages are required")
		return
	}
	if b, _ := r.Context().Value(behaviorKey{}).(Behavior); b.ChatLatency > 0 && !sleep(r.Context(), time.Duration(b.ChatLatency)) {
		return
	}
	words := strings.Fields("echo: " + req.Messages[len(req.Messages)-1].Content)
	if req.MaxTokens > 0 && len(words) > req.MaxTokens {
		words = words[:req.MaxTokens]
	}
	id := fmt.Sprintf("chatcmpl-standin-%d", time.Now().UnixNano())
	if !req.Stream {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": id, "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
			"choices": []map[string]any{{
				"index":         0,
				"message":       Message{Role: "assistant", Content: strings.Join(words, " ")},
				"finish_reason": "stop",
			}},
			"usage": map[string]int{"prompt_tokens": len(req.Messages), "completion_tokens": len(words), "total_tokens": len(req.Messages) + len(words)},
		})
		return
	}
	// Server-sent events, one chunk per word, flushed as they go so a proxy's passthrough is visible.
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(delta map[string]string, finish any) bool {
		b, _ := json.Marshal(map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": time.Now().Unix(), "model": req.Model,
			"choices": []map[string]any{{"index": 0, "delta": delta, "finish_reason": finish}},
		})
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(map[string]string{"role": "assistant"}, nil) {
		return
	}
	pace, _ := r.Context().Value(behaviorKey{}).(Behavior)
	for i, word := range words {
		if i > 0 {
			word = " " + word
			if pace.ChunkInterval > 0 && !sleep(r.Context(), time.Duration(pace.ChunkInterval)) {
				return
			}
		}
		if !send(map[string]string{"content": word}, nil) {
			return
		}
	}
	if !send(map[string]string{}, "stop") {
		return
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]string{"message": msg, "type": "standin_error"}})
}
