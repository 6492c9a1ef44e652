package standin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func newStandin(t *testing.T) (*Server, string) {
	t.Helper()
	s := New()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestModelsAndChat(t *testing.T) {
	t.Parallel()
	_, url := newStandin(t)
	code, body := do(t, "GET", url+"/v1/models", "")
	if code != 200 || !strings.Contains(body, `"id":"deepseek-chat"`) {
		t.Fatalf("models = %d %s", code, body)
	}
	code, body = do(t, "POST", url+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi there"}]}`)
	if code != 200 || !strings.Contains(body, `"content":"echo: hi there"`) {
		t.Fatalf("chat = %d %s", code, body)
	}
	code, body = do(t, "POST", url+"/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"a b"}]}`)
	if code != 200 || strings.Count(body, "data: ") != 6 || !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Fatalf("stream = %d %q: want role, 3 words, stop, [DONE]", code, body)
	}
	if code, _ := do(t, "POST", url+"/v1/chat/completions", `{"messages":[]}`); code != 400 {
		t.Errorf("chat without model/messages = %d, want 400", code)
	}
}

func TestControlFailLatencyReset(t *testing.T) {
	t.Parallel()
	_, url := newStandin(t)
	if code, body := do(t, "POST", url+"/control", `{"fail":true}`); code != 200 || !strings.Contains(body, `"fail":true`) {
		t.Fatalf("set fail = %d %s", code, body)
	}
	if code, _ := do(t, "GET", url+"/v1/models", ""); code != 500 {
		t.Errorf("models while failing = %d, want 500", code)
	}
	do(t, "POST", url+"/control", `{"latency":"300ms"}`)
	start := time.Now()
	if code, _ := do(t, "GET", url+"/v1/models", ""); code != 200 {
		t.Errorf("models with latency only = %d, want 200", code)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("latency 300ms answered in %s", took)
	}
	do(t, "POST", url+"/control", `{}`)
	_, body := do(t, "GET", url+"/control", "")
	var st ScopeState
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("decode control: %v", err)
	}
	if st.Fail || st.Hang || st.Latency != 0 || st.Requests != 2 {
		t.Errorf("after reset: %+v, want zero behaviour and 2 requests counted", st)
	}
	if code, _ := do(t, "POST", url+"/control", `{"explode":true}`); code != 400 {
		t.Errorf("unknown control field = %d, want 400", code)
	}
	if code, _ := do(t, "POST", url+"/control", `{"latency":"soon"}`); code != 400 {
		t.Errorf("bad latency = %d, want 400", code)
	}
}

// ChatLatency slows chat completions alone: the model list, which readiness reads, stays fast.
func TestChatLatencyKeepsModelsFast(t *testing.T) {
	t.Parallel()
	_, url := newStandin(t)
	if code, body := do(t, "POST", url+"/control", `{"chatLatency":"400ms"}`); code != 200 || !strings.Contains(body, `"chatLatency":"400ms"`) {
		t.Fatalf("set chatLatency = %d %s", code, body)
	}
	start := time.Now()
	if code, _ := do(t, "GET", url+"/v1/models", ""); code != 200 || time.Since(start) >= 400*time.Millisecond {
		t.Errorf("models with chat latency = %d in %s, want 200 at once", code, time.Since(start))
	}
	start = time.Now()
	code, body := do(t, "POST", url+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"slow"}]}`)
	if code != 200 || !strings.Contains(body, "echo: slow") {
		t.Errorf("chat with latency = %d %s, want 200", code, body)
	}
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Errorf("chat latency 400ms answered in %s", took)
	}
}

// FailCompletions fails inference alone: the model list, which readiness reads, still answers.
func TestFailCompletionsKeepsModels(t *testing.T) {
	t.Parallel()
	_, url := newStandin(t)
	if code, body := do(t, "POST", url+"/control", `{"failCompletions":true}`); code != 200 || !strings.Contains(body, `"failCompletions":true`) {
		t.Fatalf("set failCompletions = %d %s", code, body)
	}
	if code, _ := do(t, "GET", url+"/v1/models", ""); code != 200 {
		t.Errorf("models while completions fail = %d, want 200", code)
	}
	chat := `{"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}]}`
	if code, _ := do(t, "POST", url+"/v1/chat/completions", chat); code != 500 {
		t.Errorf("chat while completions fail = %d, want 500", code)
	}
	do(t, "POST", url+"/control", `{}`)
	if code, _ := do(t, "POST", url+"/v1/chat/completions", chat); code != 200 {
		t.Errorf("chat after reset = %d, want 200", code)
	}
}

func TestHangReleasedByClientOrReset(t *testing.T) {
	t.Parallel()
	s, url := newStandin(t)
	s.Set("green", Behavior{Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/scope/green/v1/models", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("hanging scope answered before the client's timeout")
	}
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(url + "/scope/green/v1/models")
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	// Wait until the second request is parked, then reset: it must be released.
	require.Eventually(t, func() bool { return s.State("green").Requests >= 2 }, 5*time.Second, 10*time.Millisecond,
		"the second request was never parked")
	s.Set("green", Behavior{})
	select {
	case code := <-done:
		if code != http.StatusServiceUnavailable {
			t.Errorf("released request = %d, want 503", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reset did not release the hung request")
	}
}

func TestScopesAreIndependent(t *testing.T) {
	t.Parallel()
	_, url := newStandin(t)
	if code, _ := do(t, "POST", url+"/control?scope=green", `{"fail":true}`); code != 200 {
		t.Fatal("set green scope")
	}
	chat := `{"model":"m","messages":[{"role":"user","content":"x"}]}`
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/scope/green/v1/models", 500},
		{"/scope/blue/v1/models", 200},
		{"/v1/models", 200},
	} {
		if code, _ := do(t, "GET", url+tc.path, ""); code != tc.want {
			t.Errorf("GET %s = %d, want %d", tc.path, code, tc.want)
		}
	}
	if code, _ := do(t, "POST", url+"/scope/green/v1/chat/completions", chat); code != 500 {
		t.Errorf("green chat = %d, want 500", code)
	}
	if code, _ := do(t, "POST", url+"/scope/blue/v1/chat/completions", chat); code != 200 {
		t.Errorf("blue chat = %d, want 200", code)
	}
	_, body := do(t, "GET", url+"/control?scope=green", "")
	if !strings.Contains(body, `"fail":true`) || !strings.Contains(body, `"requests":2`) {
		t.Errorf("green control = %s, want fail and 2 requests", body)
	}
	_, body = do(t, "GET", url+"/control", "")
	if !bytes.Contains([]byte(body), []byte(`"fail":false`)) {
		t.Errorf("default scope control = %s, want not failing", body)
	}
}

func TestModelsFromTheOption(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []Option
		want []string
	}{
		{"default", nil, DefaultModels},
		{"no names keeps the default", []Option{WithModels()}, DefaultModels},
		{"configured", []Option{WithModels("llama-3", "qwen-2")}, []string{"llama-3", "qwen-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewServer(New(tc.opts...))
			t.Cleanup(ts.Close)
			for _, path := range []string{"/v1/models", "/scope/green/v1/models"} {
				code, body := do(t, "GET", ts.URL+path, "")
				var list struct {
					Object string `json:"object"`
					Data   []struct {
						ID string `json:"id"`
					} `json:"data"`
				}
				if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil {
					t.Fatalf("GET %s = %d %s (%v)", path, code, body, err)
				}
				var got []string
				for _, m := range list.Data {
					got = append(got, m.ID)
				}
				if list.Object != "list" || strings.Join(got, ",") != strings.Join(tc.want, ",") {
					t.Errorf("GET %s lists %q (object %q), want %q", path, got, list.Object, tc.want)
				}
			}
		})
	}
}

func TestAPIKeyRequired(t *testing.T) {
	t.Parallel()
	s := New(WithAPIKey("right-key"))
	s.Set("green", Behavior{Hang: true}) // a bad key is refused before any behaviour
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	chat := `{"model":"m","messages":[{"role":"user","content":"x"}]}`
	client := &http.Client{Timeout: 5 * time.Second} // a request let through to the hang fails
	for _, tc := range []struct {
		name, method, path, auth, body string
		want                           int
	}{
		{"models with the key", "GET", "/v1/models", "Bearer right-key", "", 200},
		{"chat with the key", "POST", "/v1/chat/completions", "Bearer right-key", chat, 200},
		{"models without a key", "GET", "/v1/models", "", "", 401},
		{"models with a wrong key", "GET", "/v1/models", "Bearer wrong-key", "", 401},
		{"models with the key but not as bearer", "GET", "/v1/models", "right-key", "", 401},
		{"chat with a wrong key", "POST", "/v1/chat/completions", "Bearer wrong-key", chat, 401},
		{"scoped models with a wrong key", "GET", "/scope/green/v1/models", "Bearer nope", "", 401},
		{"scoped chat without a key", "POST", "/scope/blue/v1/chat/completions", "", chat, 401},
		{"healthz stays open", "GET", "/healthz", "", "", 200},
		{"control stays open", "GET", "/control", "", "", 200},
		{"control can be set without a key", "POST", "/control?scope=red", "", `{"fail":true}`, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.method, tc.path, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.path, resp.StatusCode, b, tc.want)
			}
			if tc.want != 401 {
				return
			}
			var e struct {
				Error struct {
					Message string `json:"message"`
					Type    string `json:"type"`
					Code    string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil || e.Error.Code != "invalid_api_key" || e.Error.Type != "invalid_request_error" || e.Error.Message == "" {
				t.Errorf("401 body = %s (%v), want an OpenAI error with code invalid_api_key", b, err)
			}
			if strings.Contains(string(b), "right-key") {
				t.Errorf("401 body %s gives the key away", b)
			}
		})
	}
}

func TestNoAPIKeyRequiredByDefault(t *testing.T) {
	t.Parallel()
	_, url := newStandin(t)
	req, _ := http.NewRequest("GET", url+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer anything")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, _ := do(t, "GET", url+"/v1/models", ""); code != 200 || resp.StatusCode != 200 {
		t.Errorf("without a configured key: no key = %d, any key = %d, want 200 both", code, resp.StatusCode)
	}
}

// TestChunkIntervalPacesAStream: a paced stream sends one word per interval, so four words take
// at least three intervals, and the /v1/models check is not slowed by it.
func TestChunkIntervalPacesAStream(t *testing.T) {
	t.Parallel()
	s, url := newStandin(t)
	s.Set(DefaultScope, Behavior{ChunkInterval: Duration(150 * time.Millisecond)})
	began := time.Now()
	if code, _ := do(t, "GET", url+"/v1/models", ""); code != 200 {
		t.Fatalf("models = %d", code)
	}
	if d := time.Since(began); d > 100*time.Millisecond {
		t.Errorf("models took %s: the pace is for streams only", d)
	}
	began = time.Now()
	code, body := do(t, "POST", url+"/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"a b c"}]}`)
	took := time.Since(began)
	if code != 200 || !strings.HasSuffix(body, "data: [DONE]\n\n") || strings.Count(body, "data: ") != 7 {
		t.Fatalf("stream = %d %q: want role, 4 words, stop, [DONE]", code, body)
	}
	if took < 3*150*time.Millisecond {
		t.Errorf("four words streamed in %s, want at least three intervals of 150ms", took)
	}
}
