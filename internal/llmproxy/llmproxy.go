// Package llmproxy forwards chat completion requests to an OpenAI-compatible LLM, filling in
// the configured default model and token limit, and passes streamed (SSE) answers through
// chunk by chunk.
package llmproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// maxBody matches the seed's ingress proxy-body-size (50m).
const maxBody = 50 << 20

// Proxy is the POST /v1/chat/completions handler.
type Proxy struct {
	BaseURL      string // e.g. http://llm-standin/v1; empty = not configured (503)
	APIKey       string
	DefaultModel string
	MaxTokens    int
	Client       *http.Client
	Log          *slog.Logger
}

// New returns a Proxy whose client has no overall timeout (streams may be long) but bounded
// connection setup and time to first byte, matching the seed ingress's 300 s read timeout.
func New(baseURL, apiKey, defaultModel string, maxTokens int, log *slog.Logger) *Proxy {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 300 * time.Second
	return &Proxy{
		BaseURL: baseURL, APIKey: apiKey, DefaultModel: defaultModel, MaxTokens: maxTokens,
		Client: &http.Client{Transport: tr}, Log: log,
	}
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.BaseURL == "" {
		writeError(w, http.StatusServiceUnavailable, "no LLM is configured (LLM_BASE_URL is empty)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		writeError(w, http.StatusBadRequest, "read request body: "+err.Error())
		return
	}
	body, err = p.withDefaults(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}

	up, err := http.NewRequestWithContext(r.Context(), http.MethodPost, p.BaseURL+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "build upstream request: "+err.Error())
		return
	}
	up.Header.Set("Content-Type", "application/json")
	up.Header.Set("Accept", r.Header.Get("Accept"))
	if p.APIKey != "" {
		up.Header.Set("Authorization", "Bearer "+p.APIKey)
	}
	resp, err := p.Client.Do(up)
	if err != nil {
		p.Log.Warn("llm upstream request failed", "err", err)
		writeError(w, http.StatusBadGateway, "llm upstream request failed")
		return
	}
	defer resp.Body.Close()

	for _, h := range []string{"Content-Type", "Cache-Control"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	if err := copyFlushing(w, resp.Body); err != nil {
		// Headers are sent: all we can do is stop and log; the client sees a truncated stream.
		p.Log.Warn("llm response copy interrupted", "err", err)
	}
}

// withDefaults sets model and max_tokens when the client left them out, keeping every other
// field exactly as sent.
func (p *Proxy) withDefaults(body []byte) ([]byte, error) {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("request body is not a JSON object: %w", err)
	}
	if _, ok := req["messages"]; !ok {
		return nil, errors.New("request body has no messages")
	}
	if m, ok := req["model"]; !ok || string(m) == `""` || string(m) == "null" {
		req["model"], _ = json.Marshal(p.DefaultModel)
	}
	if _, ok := req["max_tokens"]; !ok && p.MaxTokens > 0 {
		req["max_tokens"], _ = json.Marshal(p.MaxTokens)
	}
	return json.Marshal(req)
}

// copyFlushing copies src to w, flushing after every read so SSE events reach the client as
// soon as the upstream sends them.
func copyFlushing(w http.ResponseWriter, src io.Reader) error {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return fmt.Errorf("write to client: %w", werr)
			}
			if ferr := rc.Flush(); ferr != nil {
				return fmt.Errorf("flush to client: %w", ferr)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read from llm: %w", err)
		}
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": msg, "type": "proxy_error"}})
}
