package gate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestUserRequestsIgnoresProbeRoutes(t *testing.T) {
	t.Parallel()
	metrics := []byte(`# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{method="POST",route="/v1/chat/completions",code="200"} 40
http_requests_total{method="POST",route="/v1/chat/completions",code="502"} 2
http_requests_total{method="GET",route="/ready",code="200"} 900
http_requests_total{method="GET",route="/health",code="200"} 800
http_requests_total{method="GET",route="/metrics",code="200"} 70
`)
	n, err := UserRequests(metrics)
	require.NoError(t, err)
	assert.Equal(t, 42.0, n)

	_, err = UserRequests([]byte("go_goroutines 7\n"))
	require.ErrorContains(t, err, "no http_requests_total")
	_, err = UserRequests([]byte("not { metrics"))
	require.ErrorContains(t, err, "parse metrics")
}

func TestRateBetweenHandlesRestarts(t *testing.T) {
	t.Parallel()
	prev := map[string]float64{"a": 100, "b": 50}
	cur := map[string]float64{"a": 110, "b": 5} // b restarted: its 5 are new
	assert.InDelta(t, 7.5, rateBetween(prev, cur, 2*time.Second), 1e-9)
	assert.Equal(t, 0.0, rateBetween(prev, cur, 0))
}

func TestPollIsBoundedAndSaysWhatItWaitedFor(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	calls := 0
	err := Poll(ctx, 5*time.Millisecond, func(context.Context) (bool, string, error) {
		calls++
		return false, "the moon", nil
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "waiting for the moon")
	assert.Greater(t, calls, 1)

	boom := errors.New("boom")
	err = Poll(context.Background(), time.Millisecond, func(context.Context) (bool, string, error) { return false, "", boom })
	require.ErrorIs(t, err, boom, "an error ends the wait at once")
}

// TestPollTimedOutMidTrySaysWhatItWaitedFor: when the deadline falls inside a try (a GET in
// flight, the client's rate limiter), the error still names what the wait was for.
func TestPollTimedOutMidTrySaysWhatItWaitedFor(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := Poll(ctx, 5*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		if deadline, _ := ctx.Deadline(); time.Until(deadline) > 10*time.Millisecond {
			return false, "2/2 updated, 0 ready", nil
		}
		<-ctx.Done() // the last try blocks until the deadline, as a GET would
		return false, "", fmt.Errorf("get deployment d: %w", ctx.Err())
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "gave up after")
	assert.Contains(t, err.Error(), "waiting for 2/2 updated, 0 ready")
}

// TestPollDoesNotTryAgainOnceCancelled: a gate interrupted during a try must not try
// again, even with the next tick already due, or it could pass and a cutover go on.
func TestPollDoesNotTryAgainOnceCancelled(t *testing.T) {
	t.Parallel()
	for range 50 { // with the tick and the cancel both due, select picks at random: repeat
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err := Poll(ctx, time.Nanosecond, func(context.Context) (bool, string, error) {
			calls++
			cancel()
			return calls > 1, "the gate", nil
		})
		require.ErrorIs(t, err, context.Canceled)
		assert.Contains(t, err.Error(), "waiting for the gate")
		require.Equal(t, 1, calls)
	}
}

// scripted answers each probe from a list, then repeats the last answer.
type scripted struct{ statuses []int }

func (s *scripted) next() int {
	st := s.statuses[0]
	if len(s.statuses) > 1 {
		s.statuses = s.statuses[1:]
	}
	return st
}

func (s *scripted) Pod(context.Context, string, string, string, string) (*Response, error) {
	return &Response{Status: s.next(), Header: http.Header{}}, nil
}

func (s *scripted) Service(context.Context, string, string, string, string) (*Response, error) {
	return &Response{Status: s.next(), Header: http.Header{"X-App-Color": {"blue"}}}, nil
}

func TestHealthNeedsConsecutivePasses(t *testing.T) {
	t.Parallel()
	pod := []Target{{Kind: "pod", Name: "p", Port: "8000"}}
	// pass, fail, pass, pass: the failure restarts the count, so three passes are needed after it.
	p := &scripted{statuses: []int{200, 503, 200, 200, 200}}
	h := Health{Prober: p, Paths: []string{"/ready"}, Passes: 3, Interval: time.Millisecond, Log: func(string, ...any) {}}
	require.NoError(t, h.Check(context.Background(), "", pod))
	assert.Len(t, p.statuses, 1, "all five answers were used")

	p = &scripted{statuses: []int{503}}
	h.Prober = p
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := h.Check(ctx, "", pod)
	var ce *CheckError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "pod/p:8000 GET /ready", ce.Check)
}

func TestHealthRefusesTheWrongColour(t *testing.T) {
	t.Parallel()
	h := Health{Prober: &scripted{statuses: []int{200}}, Paths: []string{"/ready"}, Passes: 1, Interval: time.Millisecond, Log: func(string, ...any) {}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := h.Check(ctx, "green", []Target{{Kind: "service", Name: "preview", Port: "http"}})
	require.ErrorContains(t, err, "answered by colour blue, want green")
}

// slowFail answers 503, then makes later probes outlast the gate's deadline until the
// prober's own timeout, as a real prober has one.
type slowFail struct{ calls int }

func (s *slowFail) Pod(ctx context.Context, _, _, _, _ string) (*Response, error) {
	s.calls++
	if s.calls == 1 {
		return &Response{Status: 503, Header: http.Header{}, Body: []byte(`{"checks":{"db":"down"}}`)}, nil
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(100 * time.Millisecond):
		return nil, errors.New("probe timed out after 100ms")
	}
}

func (s *slowFail) Service(ctx context.Context, ns, name, port, path string) (*Response, error) {
	return s.Pod(ctx, ns, name, port, path)
}

func TestHealthReportsTheLastRealFailureNotTheDeadline(t *testing.T) {
	t.Parallel()
	h := Health{Prober: &slowFail{}, Paths: []string{"/ready"}, Passes: 2, Interval: time.Millisecond, Log: func(string, ...any) {}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := h.Check(ctx, "", []Target{{Kind: "pod", Name: "p", Port: "8000"}})
	require.ErrorContains(t, err, `status 503: {"checks":{"db":"down"}}`)
	assert.NotContains(t, err.Error(), "deadline")
}

// slowScrape serves a counter that grows by 10 on each /metrics scrape, and takes
// most of a poll interval to answer, as a loaded pod does.
type slowScrape struct {
	delay time.Duration
	n     float64
}

func (s *slowScrape) Pod(context.Context, string, string, string, string) (*Response, error) {
	time.Sleep(s.delay) // the pod's latency, not a wait for another goroutine
	s.n += 10
	body := fmt.Sprintf("# TYPE http_requests_total counter\nhttp_requests_total{route=\"/v1/chat/completions\"} %g\n", s.n)
	return &Response{Status: 200, Header: http.Header{}, Body: []byte(body)}, nil
}

func (s *slowScrape) Service(ctx context.Context, ns, name, port, path string) (*Response, error) {
	return s.Pod(ctx, ns, name, port, path)
}

// A slow scrape makes the next tick come too soon for a rate; a deadline then must
// still name the rate that was measured, whichever tick it falls on.
func TestDrainedReportsTheRateItMeasuredAtTheDeadline(t *testing.T) {
	t.Parallel()
	for deadline := 150 * time.Millisecond; deadline <= 250*time.Millisecond; deadline += 10 * time.Millisecond {
		t.Run(deadline.String(), func(t *testing.T) {
			t.Parallel()
			tr := Traffic{Prober: &slowScrape{delay: 14 * time.Millisecond}, Interval: 20 * time.Millisecond, MaxRate: 0, Log: func(string, ...any) {}}
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			err := tr.Drained(ctx, func(context.Context) ([]corev1.Pod, error) {
				return []corev1.Pod{runningPod("p")}, nil
			})
			require.ErrorContains(t, err, "request rate")
			assert.NotContains(t, err.Error(), "first sample interval")
		})
	}
}

// rateLimited answers 200 (or fail, when set), but refuses a probe whose context's deadline is
// less than margin away, as client-go's rate limiter refuses a request whose wait would outlast
// its context: at once, before the deadline has passed.
type rateLimited struct {
	margin time.Duration
	fail   int
}

func (r rateLimited) Pod(ctx context.Context, _, _, _, _ string) (*Response, error) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < r.margin {
		return nil, errors.New("client rate limiter Wait returned an error: rate: Wait(n=1) would exceed context deadline")
	}
	if r.fail != 0 {
		return &Response{Status: r.fail, Header: http.Header{}, Body: []byte(`{"checks":{"db":"down"}}`)}, nil
	}
	return &Response{Status: 200, Header: http.Header{}}, nil
}

func (r rateLimited) Service(ctx context.Context, ns, name, port, path string) (*Response, error) {
	return r.Pod(ctx, ns, name, port, path)
}

// TestSoakIsNotFailedByTheRoundItsDeadlineCuts: the soak's last rounds start within the rate
// limiter's margin of its deadline. They must be judged on the colour's answers, not fail on a
// request the deadline refused, or a healthy switch is reverted (with --failure-limit 0, at
// once). Found by the real-API-server suite.
func TestSoakIsNotFailedByTheRoundItsDeadlineCuts(t *testing.T) {
	t.Parallel()
	var logged []string
	h := Health{Prober: rateLimited{margin: 100 * time.Millisecond}, Paths: []string{"/ready"}, Interval: 10 * time.Millisecond,
		Log: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	require.NoError(t, h.Soak(ctx, "", []Target{{Kind: "pod", Name: "p", Port: "8000"}}))
	require.NotEmpty(t, logged)
	assert.Regexp(t, `^  post-switch check: \d+ rounds passed$`, logged[len(logged)-1])
}

// TestHealthReportsTheColoursFailureNotTheRateLimiter: a gate whose colour keeps failing names
// that failure when it times out, not the request the rate limiter refused in its last round.
func TestHealthReportsTheColoursFailureNotTheRateLimiter(t *testing.T) {
	t.Parallel()
	h := Health{Prober: rateLimited{margin: 60 * time.Millisecond, fail: 503}, Paths: []string{"/ready"}, Passes: 1, Interval: 10 * time.Millisecond, Log: func(string, ...any) {}}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := h.Check(ctx, "", []Target{{Kind: "pod", Name: "p", Port: "8000"}})
	require.ErrorContains(t, err, `status 503: {"checks":{"db":"down"}}`)
	assert.NotContains(t, err.Error(), "rate limiter")
}

func runningPod(name string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.9"}}
}

// scrapeByPod answers each pod's /metrics with its own status and request count.
type scrapeByPod map[string]struct {
	status   int
	requests float64
}

func (s scrapeByPod) Pod(_ context.Context, _, pod, _, _ string) (*Response, error) {
	a, ok := s[pod]
	if !ok {
		return nil, fmt.Errorf("no pod %s", pod)
	}
	body := fmt.Sprintf("# TYPE http_requests_total counter\nhttp_requests_total{route=\"/v1/chat/completions\"} %g\n", a.requests)
	return &Response{Status: a.status, Header: http.Header{}, Body: []byte(body)}, nil
}

func (s scrapeByPod) Service(ctx context.Context, ns, name, port, path string) (*Response, error) {
	return s.Pod(ctx, ns, name, port, path)
}

// A rollout of the old colour during the drain check (a concurrent upgrade of a shared key)
// lists a new pod with no address yet, which the API server's proxy answers 400, and a
// terminating pod whose scrape fails: neither serves anyone, and neither fails the check. A
// running pod's 400 still does. Found by TestConfigCutoverKeepsAConcurrentUpgrade on kind.
func TestDrainedSkipsPodsThatServeNoOne(t *testing.T) {
	t.Parallel()
	pending := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "new"}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	leaving := runningPod("old")
	leaving.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	pods := []corev1.Pod{runningPod("serving"), pending, leaving}
	prober := scrapeByPod{
		"serving": {status: 200, requests: 5},
		"new":     {status: 400},
		"old":     {status: 400},
	}
	tr := Traffic{Prober: prober, Interval: 10 * time.Millisecond, MaxRate: 0, Log: func(string, ...any) {}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, tr.Drained(ctx, func(context.Context) ([]corev1.Pod, error) { return pods, nil }))

	prober["serving"] = struct {
		status   int
		requests float64
	}{status: 400}
	err := tr.Drained(ctx, func(context.Context) ([]corev1.Pod, error) { return pods, nil })
	require.ErrorContains(t, err, "scrape pod serving /metrics: status 400")
}

// stopsThen answers 503 and, on each probe, first stops the soak it answers: the drain that
// soak watched over ended while the colour was answering.
type stopsThen struct{ stop context.CancelFunc }

func (s stopsThen) Pod(context.Context, string, string, string, string) (*Response, error) {
	s.stop()
	return &Response{Status: 503, Header: http.Header{}}, nil
}

func (s stopsThen) Service(ctx context.Context, ns, name, port, path string) (*Response, error) {
	return s.Pod(ctx, ns, name, port, path)
}

// TestAFailureSeenAsTheWatchStopsIsNotLost: the watch during the drain is stopped in the
// round where the new colour answers 503. With --failure-limit 0 that answer fails it; within
// a budget it is carried (Streak) into the post-switch check, whose next failure then exceeds
// the budget. Before, the stopped round was dropped: a unit run saw a --failure-limit 0
// cutover keep a colour that had failed.
func TestAFailureSeenAsTheWatchStopsIsNotLost(t *testing.T) {
	t.Parallel()
	targets := []Target{{Kind: "pod", Name: "p", Port: "8000"}}
	noLog := func(string, ...any) {}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := Health{Prober: stopsThen{cancel}, Paths: []string{"/ready"}, Interval: 10 * time.Millisecond, Log: noLog}
	require.ErrorContains(t, h.Soak(ctx, "", targets), "1 failed rounds in a row; --failure-limit tolerates 0")

	streak := 0
	drain, stopDrain := context.WithCancel(context.Background())
	defer stopDrain()
	h = Health{Prober: stopsThen{stopDrain}, Paths: []string{"/ready"}, Interval: 10 * time.Millisecond, FailureLimit: 1, Streak: &streak, Log: noLog}
	require.ErrorIs(t, h.Soak(drain, "", targets), context.Canceled, "within the budget, the stopped watch just ends")
	assert.Equal(t, 1, streak, "its failure is carried to the next check")

	verify, done := context.WithTimeout(context.Background(), time.Second)
	defer done()
	h.Prober = rateLimited{fail: 503}
	require.ErrorContains(t, h.Soak(verify, "", targets), "2 failed rounds in a row; --failure-limit tolerates 1")
}
