package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/config"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/standin"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/testenv"
)

// running is a server serving on a loopback port, drained by t.Cleanup if still up.
type running struct {
	URL    string
	srv    *Server
	cancel context.CancelFunc
	done   chan error
}

// startServer configures the server from env (as main does) and serves it on loopback.
func startServer(t *testing.T, env map[string]string) *running {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv, err := New(cfg, "v9.9.9", log)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{URL: "http://" + ln.Addr().String(), srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			_ = err // what Serve returns is asserted by the tests that care
		case <-time.After(cfg.ShutdownTimeout + 5*time.Second):
			t.Errorf("server did not stop within its shutdown timeout")
		}
	})
	return r
}

// startStandin serves an LLM stand-in on loopback.
func startStandin(t *testing.T) (*standin.Server, string) {
	t.Helper()
	s := standin.New()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL
}

// reply is what get keeps of a response once its body is read and closed.
type reply struct {
	StatusCode int
	Header     http.Header
	Close      bool // the server asked to close the connection
}

// testingT is a *testing.T or the *assert.CollectT of an EventuallyWithT condition:
// the condition runs on a goroutine of its own, where t.Fatal must not be called.
type testingT interface {
	require.TestingT
	Helper()
}

func get(t testingT, url string) (reply, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err, "GET %s", url)
	defer resp.Body.Close()
	var body map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &body)
	return reply{StatusCode: resp.StatusCode, Header: resp.Header, Close: resp.Close}, body
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func checkStatus(body map[string]any, name string) string {
	checks, _ := body["checks"].(map[string]any)
	c, _ := checks[name].(map[string]any)
	s, _ := c["status"].(string)
	return s
}

func TestHealthAndIdentityHeaders(t *testing.T) {
	t.Parallel()
	r := startServer(t, map[string]string{"APP_COLOR": "green"})
	resp, body := get(t, r.URL+"/health")
	if resp.StatusCode != http.StatusOK || body["status"] != "healthy" {
		t.Fatalf("/health = %d %v, want 200 healthy", resp.StatusCode, body)
	}
	if _, ok := body["uptime_seconds"].(float64); !ok {
		t.Errorf("/health body has no numeric uptime_seconds: %v", body)
	}
	if v, c := resp.Header.Get(HeaderVersion), resp.Header.Get(HeaderColor); v != "v9.9.9" || c != "green" {
		t.Errorf("identity headers = %q/%q, want v9.9.9/green", v, c)
	}
	// A 404 still says who answered.
	resp, _ = get(t, r.URL+"/nope")
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get(HeaderColor) != "green" {
		t.Errorf("/nope = %d colour %q, want 404 with colour green", resp.StatusCode, resp.Header.Get(HeaderColor))
	}
}

// TestHealthCountsUserRequestsWithMetricsOff: with PROMETHEUS_ENABLED=false /metrics is gone,
// and /health still counts the requests users made (not the probes, nor a scrape's 404), the
// cutover's drain signal.
func TestHealthCountsUserRequestsWithMetricsOff(t *testing.T) {
	t.Parallel()
	r := startServer(t, map[string]string{"PROMETHEUS_ENABLED": "false"})
	resp, _ := get(t, r.URL+"/metrics")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics = %d with PROMETHEUS_ENABLED=false, want 404", resp.StatusCode)
	}
	get(t, r.URL+"/")
	get(t, r.URL+"/")
	get(t, r.URL+"/nope")
	get(t, r.URL+"/ready")
	get(t, r.URL+"/health")
	_, body := get(t, r.URL+"/health")
	if got, _ := body["user_requests_total"].(float64); got != 3 {
		t.Errorf("user_requests_total = %v, want 3 (two roots and a 404, no probes, no scrape): %v", body["user_requests_total"], body)
	}
}

func TestReadyWithNothingConfiguredReportsSkipped(t *testing.T) {
	t.Parallel()
	r := startServer(t, nil)
	resp, body := get(t, r.URL+"/ready")
	if resp.StatusCode != http.StatusOK || body["status"] != "ready" {
		t.Fatalf("/ready = %d %v, want 200 ready", resp.StatusCode, body)
	}
	for _, name := range []string{"database", "redis", "vector_db", "llm"} {
		if got := checkStatus(body, name); got != "skipped" {
			t.Errorf("check %s = %q, want skipped", name, got)
		}
	}
}

func TestMetricsCountRoutesAndBuildInfo(t *testing.T) {
	t.Parallel()
	r := startServer(t, map[string]string{"APP_COLOR": "blue"})
	for range 3 {
		get(t, r.URL+"/health")
	}
	get(t, r.URL+"/ready")
	get(t, r.URL+"/does/not/exist")
	text := getText(t, r.URL+"/metrics")
	for _, want := range []string{
		`http_requests_total{code="200",method="GET",route="/health"} 3`,
		`http_requests_total{code="200",method="GET",route="/ready"} 1`,
		`http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`http_request_duration_seconds_bucket{method="GET",route="/health",le="+Inf"} 3`,
		`ai_assistant_build_info{color="blue",version="v9.9.9"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The scrape itself is counted under its own route (the cutover tool subtracts it).
	if text := getText(t, r.URL+"/metrics"); !strings.Contains(text, `route="/metrics"} 1`) {
		t.Errorf("second scrape does not show the first under route=/metrics")
	}
}

func TestMetricsDisabled(t *testing.T) {
	t.Parallel()
	r := startServer(t, map[string]string{"PROMETHEUS_ENABLED": "false"})
	if resp, _ := get(t, r.URL+"/metrics"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics with PROMETHEUS_ENABLED=false = %d, want 404", resp.StatusCode)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	r := startServer(t, map[string]string{"CORS_ORIGINS": "https://app.example.com,http://localhost:3000"})
	tests := []struct {
		name, method, origin string
		wantCode             int
		wantAllow            string
	}{
		{"allowed simple", http.MethodGet, "https://app.example.com", 200, "https://app.example.com"},
		{"other allowed origin", http.MethodGet, "http://localhost:3000", 200, "http://localhost:3000"},
		{"foreign origin gets no grant", http.MethodGet, "https://evil.example", 200, ""},
		{"allowed preflight", http.MethodOptions, "https://app.example.com", 204, "https://app.example.com"},
		{"foreign preflight", http.MethodOptions, "https://evil.example", 403, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, r.URL+"/health", nil)
			req.Header.Set("Origin", tc.origin)
			if tc.method == http.MethodOptions {
				req.Header.Set("Access-Control-Request-Method", "POST")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.wantCode)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.wantAllow {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tc.wantAllow)
			}
		})
	}
}

// TestReadyFollowsRealDependencies stops PostgreSQL then Redis mid-test: /ready must turn 503
// naming the check within the cache TTL plus the check timeout, and return to 200 on restart.
func TestReadyFollowsRealDependencies(t *testing.T) {
	t.Parallel()
	pg := testenv.StartPostgres(t)
	rd := testenv.StartRedis(t)
	_, llmURL := startStandin(t)
	const ttl, timeout = 300 * time.Millisecond, 500 * time.Millisecond
	r := startServer(t, map[string]string{
		"DATABASE_URL": pg.URL, "REDIS_URL": rd.URL, "LLM_BASE_URL": llmURL + "/v1",
		"READY_CACHE_TTL": ttl.String(), "READY_CHECK_TIMEOUT": timeout.String(),
	})
	bound := ttl + timeout + time.Second // + slack for a loaded 2-core machine

	waitReady := func(wantCode int, failing string) {
		t.Helper()
		want := "/ready " + strconv.Itoa(wantCode)
		if failing != "" {
			want += " with check " + failing + " failed"
		}
		// On timeout the last try's failures are reported: they carry the last answer.
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			resp, body := get(c, r.URL+"/ready")
			last := strconv.Itoa(resp.StatusCode) + " " + mustJSON(body)
			assert.Equal(c, wantCode, resp.StatusCode, "last /ready: %s", last)
			if failing != "" {
				assert.Equal(c, "failed", checkStatus(body, failing), "last /ready: %s", last)
			}
		}, bound+5*time.Second, 20*time.Millisecond, "waiting for %s", want)
	}
	waitReady(http.StatusOK, "")
	_, body := get(t, r.URL+"/ready")
	for _, name := range []string{"database", "redis", "llm"} {
		if got := checkStatus(body, name); got != "ok" {
			t.Errorf("check %s = %q, want ok", name, got)
		}
	}

	for _, dep := range []struct {
		name        string
		stop, start func(testing.TB)
	}{
		{"database", pg.Stop, pg.Start},
		{"redis", rd.Stop, rd.Start},
	} {
		dep.stop(t)
		stopped := time.Now()
		waitReady(http.StatusServiceUnavailable, dep.name)
		if took := time.Since(stopped); took > bound {
			t.Errorf("%s down: /ready took %s to turn 503, want within %s", dep.name, took, bound)
		}
		if m := getText(t, r.URL+"/metrics"); !strings.Contains(m, `ai_assistant_dependency_up{dependency="`+dep.name+`"} 0`) {
			t.Errorf("dependency_up for %s is not 0 while it is down", dep.name)
		}
		dep.start(t)
		waitReady(http.StatusOK, "")
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestReadyFollowsScopedLLMStandin(t *testing.T) {
	t.Parallel()
	llm, llmURL := startStandin(t)
	green := startServer(t, map[string]string{"LLM_BASE_URL": llmURL + "/scope/green/v1", "READY_CACHE_TTL": "0s", "APP_COLOR": "green"})
	blue := startServer(t, map[string]string{"LLM_BASE_URL": llmURL + "/scope/blue/v1", "READY_CACHE_TTL": "0s", "APP_COLOR": "blue"})

	llm.Set("green", standin.Behavior{Fail: true})
	resp, body := get(t, green.URL+"/ready")
	if resp.StatusCode != http.StatusServiceUnavailable || checkStatus(body, "llm") != "failed" {
		t.Fatalf("green /ready with its scope failing = %d %v, want 503 naming llm", resp.StatusCode, body)
	}
	if resp, body := get(t, blue.URL+"/ready"); resp.StatusCode != http.StatusOK {
		t.Fatalf("blue /ready while only green's scope fails = %d %v, want 200", resp.StatusCode, body)
	}
	llm.Set("green", standin.Behavior{})
	if resp, body := get(t, green.URL+"/ready"); resp.StatusCode != http.StatusOK {
		t.Fatalf("green /ready after reset = %d %v, want 200 (not latched)", resp.StatusCode, body)
	}
}

// TestReadyKnowsTheModelAndKey: /ready is 503 with the llm check naming DEFAULT_MODEL when the
// LLM does not list it, and naming the 401 when the key is refused; 200 when both are right.
func TestReadyKnowsTheModelAndKey(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(standin.New(standin.WithModels("model-a", "model-b"), standin.WithAPIKey("right-key")))
	t.Cleanup(ts.Close)
	for _, tc := range []struct {
		name, model, key string
		want             int
		wantErr          string
	}{
		{"model listed, key right", "model-b", "right-key", http.StatusOK, ""},
		{"model not listed", "gpt-4o-mini", "right-key", http.StatusServiceUnavailable,
			`model "gpt-4o-mini" is not listed by ` + ts.URL + "/v1/models (it lists: model-a, model-b)"},
		{"key wrong", "model-a", "wrong-key", http.StatusServiceUnavailable, "status 401: the API key was refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startServer(t, map[string]string{
				"LLM_BASE_URL": ts.URL + "/v1", "DEFAULT_MODEL": tc.model, "LLM_API_KEY": tc.key, "READY_CACHE_TTL": "0s",
			})
			resp, body := get(t, r.URL+"/ready")
			checks, _ := body["checks"].(map[string]any)
			llm, _ := checks["llm"].(map[string]any)
			msg, _ := llm["error"].(string)
			if resp.StatusCode != tc.want || !strings.Contains(msg, tc.wantErr) || (tc.wantErr == "") != (msg == "") {
				t.Fatalf("/ready = %d %s, want %d with llm error %q", resp.StatusCode, mustJSON(body), tc.want, tc.wantErr)
			}
		})
	}
}

// TestDrain: after the stop signal /ready is 503 at once, an in-flight request completes, and
// Serve returns without error.
func TestDrain(t *testing.T) {
	t.Parallel()
	llm, llmURL := startStandin(t)
	llm.Set(standin.DefaultScope, standin.Behavior{Latency: standin.Duration(800 * time.Millisecond)})
	r := startServer(t, map[string]string{
		"LLM_BASE_URL": llmURL + "/v1", "SHUTDOWN_DELAY": "300ms", "SHUTDOWN_TIMEOUT": "10s", "READY_CACHE_TTL": "0s",
	})

	inflight := make(chan int, 1)
	go func() {
		resp, err := http.Post(r.URL+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"messages":[{"role":"user","content":"slow one"}]}`))
		if err != nil {
			inflight <- -1
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		inflight <- resp.StatusCode
	}()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.GreaterOrEqual(c, llm.State(standin.DefaultScope).Requests, int64(1), "requests seen at the stand-in")
	}, 5*time.Second, 20*time.Millisecond, "waiting for the request to be in flight at the stand-in")

	stopAt := time.Now()
	r.cancel()
	// Within the shutdown delay the listener is still open and /ready says 503.
	resp, body := get(t, r.URL+"/ready")
	if resp.StatusCode != http.StatusServiceUnavailable || body["reason"] != "shutting down" {
		t.Fatalf("/ready after stop = %d %v, want 503 shutting down", resp.StatusCode, body)
	}
	if !resp.Close {
		t.Errorf("response during drain did not carry Connection: close")
	}
	_, health := get(t, r.URL+"/health")
	assert.EqualValues(t, 1, health["user_requests_in_flight"], "the slow chat request is in flight, the /health probe is not counted: %v", health)
	if code := <-inflight; code != http.StatusOK {
		t.Fatalf("in-flight request finished with %d, want 200", code)
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("Serve returned %v, want nil after a clean drain", err)
		}
		r.done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("server did not exit within SHUTDOWN_TIMEOUT")
	}
	if took := time.Since(stopAt); took > 5*time.Second {
		t.Errorf("drain took %s, want well under the 10s timeout", took)
	}
	if resp, err := http.Get(r.URL + "/health"); err == nil {
		resp.Body.Close()
		t.Errorf("server still accepts connections after draining")
	}
}

// connTracker is a keep-alive client that records which local port served each request.
type connTracker struct {
	client *http.Client
	mu     sync.Mutex
	ports  []string
}

func newConnTracker() *connTracker {
	return &connTracker{client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}}
}

// lastPort is the local address the latest request went out on.
func (c *connTracker) lastPort() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ports[len(c.ports)-1]
}

func (c *connTracker) get(t testingT, url string) reply {
	t.Helper()
	var local string
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { local = i.Conn.LocalAddr().String() }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, url, nil)
	resp, err := c.client.Do(req)
	require.NoError(t, err, "GET %s", url)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.mu.Lock()
	c.ports = append(c.ports, local)
	c.mu.Unlock()
	return reply{StatusCode: resp.StatusCode, Header: resp.Header, Close: resp.Close}
}

func TestMaxConnectionRequests(t *testing.T) {
	t.Parallel()
	r := startServer(t, map[string]string{"HTTP_MAX_CONNECTION_REQUESTS": "3", "HTTP_MAX_CONNECTION_AGE": "0"})
	c := newConnTracker()
	var closes []bool
	for range 6 {
		closes = append(closes, c.get(t, r.URL+"/health").Close)
	}
	wantCloses := []bool{false, false, true, false, false, true}
	if mustJSON(closes) != mustJSON(wantCloses) {
		t.Errorf("Connection: close per response = %v, want %v", closes, wantCloses)
	}
	p := c.ports
	if p[0] != p[1] || p[1] != p[2] || p[3] != p[4] || p[4] != p[5] || p[2] == p[3] {
		t.Errorf("client ports = %v, want 3 requests per connection then a new one", p)
	}
}

func TestMaxConnectionAge(t *testing.T) {
	t.Parallel()
	r := startServer(t, map[string]string{"HTTP_MAX_CONNECTION_AGE": "300ms"})
	c := newConnTracker()
	if c.get(t, r.URL+"/health").Close {
		t.Fatal("first request on a new connection was told to close")
	}
	first := c.ports[0]
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		resp := c.get(ct, r.URL+"/health")
		assert.True(ct, resp.Close, "no Connection: close yet; the last response came on %s", c.lastPort())
	}, 5*time.Second, 20*time.Millisecond, "waiting for Connection: close once the connection is older than 300ms")
	if last := c.lastPort(); last != first {
		t.Errorf("the closing response came on %s, not the original connection %s", last, first)
	}
	c.get(t, r.URL+"/health")
	if last := c.lastPort(); last == first {
		t.Errorf("after Connection: close the client still used %s", first)
	}
	if !strings.Contains(getText(t, r.URL+"/metrics"), "ai_assistant_connections_recycled_total 1") {
		t.Errorf("connections_recycled_total is not 1")
	}
}

func TestChatProxyAgainstStandin(t *testing.T) {
	t.Parallel()
	llm, llmURL := startStandin(t)
	r := startServer(t, map[string]string{"LLM_BASE_URL": llmURL + "/v1", "DEFAULT_MODEL": "standin-model", "MAX_TOKENS": "3"})

	t.Run("non-streaming fills defaults", func(t *testing.T) {
		resp, err := http.Post(r.URL+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"messages":[{"role":"user","content":"one two three four five"}]}`))
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		defer resp.Body.Close()
		var out struct {
			Model   string `json:"model"`
			Choices []struct {
				Message standin.Message `json:"message"`
			} `json:"choices"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d, decode: %v", resp.StatusCode, err)
		}
		if out.Model != "standin-model" {
			t.Errorf("model = %q, want DEFAULT_MODEL standin-model", out.Model)
		}
		// MAX_TOKENS=3 limits the stand-in's echo to three words.
		if got := out.Choices[0].Message.Content; got != "echo: one two" {
			t.Errorf("content = %q, want %q", got, "echo: one two")
		}
		if resp.Header.Get(HeaderVersion) != "v9.9.9" {
			t.Errorf("proxied response lacks %s", HeaderVersion)
		}
	})

	t.Run("streaming passes SSE through", func(t *testing.T) {
		resp, err := http.Post(r.URL+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"m","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hello streaming world"}]}`))
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("Content-Type = %q, want text/event-stream", ct)
		}
		var content strings.Builder
		var events int
		sc := bufio.NewScanner(resp.Body)
		done := false
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			if line == "[DONE]" {
				done = true
				break
			}
			events++
			var chunk struct {
				Choices []struct {
					Delta struct{ Content string } `json:"delta"`
				} `json:"choices"`
			}
			if err := json.Unmarshal([]byte(line), &chunk); err != nil {
				t.Fatalf("bad chunk %q: %v", line, err)
			}
			content.WriteString(chunk.Choices[0].Delta.Content)
		}
		if !done || content.String() != "echo: hello streaming world" || events < 4 {
			t.Errorf("stream: done=%v events=%d content=%q", done, events, content.String())
		}
	})

	t.Run("upstream failure is a 5xx", func(t *testing.T) {
		llm.Set(standin.DefaultScope, standin.Behavior{Fail: true})
		t.Cleanup(func() { llm.Set(standin.DefaultScope, standin.Behavior{}) })
		resp, err := http.Post(r.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"messages":[]}`))
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("status = %d, want the stand-in's 500 passed through", resp.StatusCode)
		}
	})

	t.Run("bad body is a 400", func(t *testing.T) {
		resp, err := http.Post(r.URL+"/v1/chat/completions", "application/json", strings.NewReader(`not json`))
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status = %d, want 400", resp.StatusCode)
		}
	})
}

func TestChatWithoutLLMIs503(t *testing.T) {
	t.Parallel()
	r := startServer(t, nil)
	resp, err := http.Post(r.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"messages":[]}`))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503 when LLM_BASE_URL is empty", resp.StatusCode)
	}
}
