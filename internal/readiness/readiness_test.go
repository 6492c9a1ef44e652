package readiness

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fakeCheck is a Check whose outcome and duration a test controls.
type fakeCheck struct {
	name  string
	delay time.Duration
	err   atomic.Pointer[error]
	calls atomic.Int64
}

func (f *fakeCheck) Name() string { return f.name }

func (f *fakeCheck) Check(ctx context.Context) error {
	f.calls.Add(1)
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if e := f.err.Load(); e != nil {
		return *e
	}
	return nil
}

func (f *fakeCheck) fail(err error) { f.err.Store(&err) }
func (f *fakeCheck) recover()       { f.err.Store(nil) }

func TestNotLatching(t *testing.T) {
	t.Parallel()
	db := &fakeCheck{name: "database"}
	c := New([]Check{db}, WithTTL(0))
	if r := c.Report(context.Background()); !r.Ready {
		t.Fatalf("healthy dependency: not ready: %+v", r)
	}
	db.fail(errors.New("connection refused"))
	r := c.Report(context.Background())
	if r.Ready || r.Status != "not_ready" || r.Checks["database"].Status != StatusFailed || r.Checks["database"].Error != "connection refused" {
		t.Fatalf("after the dependency failed: %+v, want not_ready naming database", r)
	}
	db.recover()
	if r := c.Report(context.Background()); !r.Ready || r.Status != "ready" {
		t.Fatalf("after recovery: %+v, want ready", r)
	}
}

func TestChecksRunConcurrentlyUnderTimeout(t *testing.T) {
	t.Parallel()
	a := &fakeCheck{name: "a", delay: 300 * time.Millisecond}
	b := &fakeCheck{name: "b", delay: 300 * time.Millisecond}
	hung := &fakeCheck{name: "hung", delay: time.Hour}
	c := New([]Check{a, b, hung}, WithTimeout(500*time.Millisecond), WithTTL(0))
	start := time.Now()
	r := c.Report(context.Background())
	took := time.Since(start)
	if took > 900*time.Millisecond {
		t.Errorf("report took %s: checks are not concurrent or the timeout is not applied", took)
	}
	if r.Ready || r.Checks["hung"].Status != StatusFailed || r.Checks["a"].Status != StatusOK || r.Checks["b"].Status != StatusOK {
		t.Errorf("report %+v: want a, b ok and hung failed by timeout", r)
	}
}

func TestCacheTTLAndSharedRefresh(t *testing.T) {
	t.Parallel()
	db := &fakeCheck{name: "database", delay: 50 * time.Millisecond}
	c := New([]Check{db}, WithTTL(time.Hour))
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); c.Report(context.Background()) }()
	}
	wg.Wait()
	if n := db.calls.Load(); n != 1 {
		t.Errorf("20 concurrent reports within the TTL ran the check %d times, want 1", n)
	}
	// A cached report is served even after the dependency fails, until the TTL expires.
	db.fail(errors.New("down"))
	if r := c.Report(context.Background()); !r.Ready {
		t.Errorf("within the TTL the cached report should be reused")
	}
	now := time.Now().Add(2 * time.Hour)
	c.now = func() time.Time { return now }
	if r := c.Report(context.Background()); r.Ready {
		t.Errorf("after the TTL the failure must show")
	}
}

func TestSkippedAndObserved(t *testing.T) {
	t.Parallel()
	db := &fakeCheck{name: "database"}
	db.fail(errors.New("down"))
	seen := map[string]bool{}
	c := New([]Check{db}, WithSkipped("redis"), WithObserver(func(n string, up bool) { seen[n] = up }))
	r := c.Report(context.Background())
	if r.Checks["redis"].Status != StatusSkipped {
		t.Errorf("redis = %+v, want skipped", r.Checks["redis"])
	}
	if up, ok := seen["database"]; !ok || up {
		t.Errorf("observer saw %v, want database=false", seen)
	}
	if _, ok := seen["redis"]; ok {
		t.Errorf("observer was told about skipped redis")
	}
}

func TestDrainingWins(t *testing.T) {
	t.Parallel()
	db := &fakeCheck{name: "database"}
	c := New([]Check{db}, WithTTL(0))
	if r := c.Report(context.Background()); !r.Ready {
		t.Fatalf("healthy check: want ready, got %+v", r)
	}
	c.SetDraining()
	r := c.Report(context.Background())
	if r.Ready || !r.Draining || r.Reason != "shutting down" {
		t.Fatalf("draining with a cached ready report: %+v, want not ready at once", r)
	}
	if r.Checks["database"].Status != StatusOK {
		t.Errorf("draining report should keep the last checks, got %+v", r.Checks)
	}
	if n := db.calls.Load(); n != 1 {
		t.Errorf("draining ran the check again (%d calls), want no dependency traffic", n)
	}
}

func TestTCPAndLLMChecks(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx := context.Background()
	if err := (TCP{CheckName: "vector_db", Addr: addr}).Check(ctx); err != nil {
		t.Errorf("tcp check on a listening port: %v", err)
	}
	ln.Close()
	if err := (TCP{CheckName: "vector_db", Addr: closedPort(t)}).Check(ctx); err == nil {
		t.Errorf("tcp check on a closed port passed")
	}

	var gotAuth atomic.Value
	code := atomic.Int64{}
	code.Store(200)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
		if r.URL.Path != "/v1/models" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(code.Load()))
		_, _ = io.WriteString(w, `{"object":"list","data":[]}`)
	}))
	defer ts.Close()
	llm := LLM{BaseURL: ts.URL + "/v1", APIKey: "sk-test"}
	if err := llm.Check(ctx); err != nil {
		t.Errorf("llm check: %v", err)
	}
	if gotAuth.Load() != "Bearer sk-test" {
		t.Errorf("Authorization = %v, want Bearer sk-test", gotAuth.Load())
	}
	code.Store(401)
	if err := llm.Check(ctx); err == nil {
		t.Errorf("llm check passed on 401")
	}
}

// closedPort returns a loopback address that refuses connections for the whole test: a
// socket bound to it and never listening holds it, so no parallel test can take it (a
// port freed by closing a listener can be handed out again at once).
func closedPort(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}
