package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/standin"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/testenv"
)

var binary string

// TestMain builds the command once; the tests run it as a real process so that signals, exit
// codes and the environment are exercised exactly as in a pod.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ai-assistant-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create temp dir:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "ai-assistant")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestHealthcheckSubcommand(t *testing.T) {
	t.Parallel()
	var code atomic.Int32
	code.Store(200)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(code.Load()))
		_, _ = io.WriteString(w, `{"status":"not_ready","checks":{"database":{"status":"failed"}}}`)
	}))
	defer ts.Close()

	if out, err := exec.Command(binary, "healthcheck", "--url", ts.URL+"/ready").CombinedOutput(); err != nil {
		t.Errorf("healthcheck against 200: %v %s", err, out)
	}
	code.Store(503)
	out, err := exec.Command(binary, "healthcheck", "--url", ts.URL+"/ready", "--timeout", "1s").CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "503") || !strings.Contains(string(out), "database") {
		t.Errorf("healthcheck against 503: exit %d output %q, want 1 naming the status and check", exitCode(err), out)
	}
	ts.Close()
	if _, err := exec.Command(binary, "healthcheck", "--url", ts.URL, "--timeout", "1s").CombinedOutput(); exitCode(err) != 1 {
		t.Errorf("healthcheck against a closed port: exit %d, want 1", exitCode(err))
	}
}

func TestBadConfigExitsNamingTheVariable(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(binary)
	cmd.Env = []string{"MAX_TOKENS=many", "PORT=" + fmt.Sprint(testenv.FreePort(t))}
	out, err := cmd.CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "MAX_TOKENS") {
		t.Errorf("exit %d output %q, want 1 naming MAX_TOKENS", exitCode(err), out)
	}
}

// TestSIGTERMDrains sends a real SIGTERM while a slow request is in flight.
func TestSIGTERMDrains(t *testing.T) {
	t.Parallel()
	llm := standin.New()
	llm.Set(standin.DefaultScope, standin.Behavior{Latency: standin.Duration(time.Second)})
	lts := httptest.NewServer(llm)
	defer lts.Close()

	port := testenv.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var logs bytes.Buffer
	cmd := exec.Command(binary)
	cmd.Env = []string{"PORT=" + fmt.Sprint(port), "LLM_BASE_URL=" + lts.URL + "/v1", "READY_CACHE_TTL=0s",
		"SHUTDOWN_DELAY=500ms", "SHUTDOWN_TIMEOUT=10s", "APP_COLOR=blue"}
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}, 15*time.Second, 20*time.Millisecond, "server did not come up:\n%s", &logs)

	inflight := make(chan int, 1)
	go func() {
		resp, err := http.Post(base+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"messages":[{"role":"user","content":"finish me"}]}`))
		if err != nil {
			inflight <- -1
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		inflight <- resp.StatusCode
	}()
	require.Eventually(t, func() bool { return llm.State(standin.DefaultScope).Requests >= 1 },
		15*time.Second, 10*time.Millisecond, "chat request never reached the stand-in")

	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + "/ready")
	if err != nil {
		t.Fatalf("/ready right after SIGTERM: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/ready right after SIGTERM = %d, want 503", resp.StatusCode)
	}
	if code := <-inflight; code != http.StatusOK {
		t.Errorf("in-flight request ended with %d, want 200", code)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("process still running 10s after SIGTERM\n%s", logs.String())
	}
	if took := time.Since(sent); took > 5*time.Second {
		t.Errorf("shutdown took %s", took)
	}
	if !strings.Contains(logs.String(), `"msg":"drained"`) {
		t.Errorf("log lacks the drained line:\n%s", logs.String())
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
