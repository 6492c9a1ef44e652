//go:build integration

package integration

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stack"
)

// stream is one streamed chat completion as the client saw it.
type stream struct {
	words    int // asked for
	color    string
	chunks   int // content chunks received
	done     bool
	err      error
	duration time.Duration
}

// chatStream asks the main Service for a streamed answer of n words and reads it to the end.
func (a *app) chatStream(ctx context.Context, n int) (s stream) {
	words := make([]string, n-1) // the stand-in echoes "echo: " and the words: n in all
	for i := range words {
		words[i] = "w" + strconv.Itoa(i)
	}
	s = stream{words: n}
	began := time.Now()
	defer func() { s.duration = time.Since(began) }()
	body := fmt.Sprintf(`{"stream":true,"messages":[{"role":"user","content":%q}]}`, strings.Join(words, " "))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url(a.port, "/v1/chat/completions"), strings.NewReader(body))
	if err != nil {
		s.err = err
		return s
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		s.err = err
		return s
	}
	defer resp.Body.Close()
	s.color = resp.Header.Get("X-App-Color")
	if resp.StatusCode != http.StatusOK {
		s.err = fmt.Errorf("status %d", resp.StatusCode)
		return s
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "data: [DONE]":
			s.done = true
		case strings.HasPrefix(line, "data: ") && strings.Contains(line, `"content"`):
			s.chunks++
		}
	}
	s.err = sc.Err()
	return s
}

// TestStreamsSurviveCutover: 20 chat streams of 30-58 s run across a deploy, a rollback and a
// `finalize --now` under 200 req/s of short requests. Ten start on blue before the deploy, ten
// on green after it; the rollback moves traffic back to blue while green's streams go on, and
// finalize scales green down only once they have ended. Not one stream is cut, not one short
// request fails. The pods' shutdown window is made shorter than every stream (the server
// drains for streamDrain, the kubelet kills at streamGrace), so a stream survives only
// because finalize waited for it, not because a pod's drain outlasted it.
func TestStreamsSurviveCutover(t *testing.T) {
	parallel(t)
	const (
		streamGrace   = 20 * time.Second
		streamDrain   = 12 * time.Second
		shortestWords = 30 // words, one a second: the shortest stream's length in seconds
	)
	a := newAppSet(t, map[string]any{
		"terminationGracePeriodSeconds": int(streamGrace.Seconds()),
		"preStopSleepSeconds":           5,
	}, map[string]string{"config.SHUTDOWN_TIMEOUT": streamDrain.String()})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	a.standin(ctx, "", map[string]any{"chunkInterval": "1s"}) // one word a second
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	wait := a.load(loadCtx, true, 10*time.Minute)

	var (
		mu      sync.Mutex
		streams []stream
		wg      sync.WaitGroup
	)
	wave := func(first int) {
		for i := range 10 {
			wg.Add(1)
			go func(n int) {
				defer wg.Done()
				s := a.chatStream(ctx, n)
				mu.Lock()
				streams = append(streams, s)
				mu.Unlock()
			}(shortestWords + 3*(first+i)/2) // 30 to 58 words: as many seconds
		}
	}
	wave(0)
	code, _, out := a.bluegreen(ctx, append([]string{"deploy", "--tag", stack.Versions[1]}, fastGates...)...)
	require.Equal(t, 0, code, "deploy:\n%s", lastLines(out, 20))
	waitColor(t, a, "green")
	wave(10)
	code, _, out = a.bluegreen(ctx, append([]string{"rollback"}, fastGates...)...)
	require.Equal(t, 0, code, "rollback:\n%s", lastLines(out, 20))
	waitColor(t, a, "blue")
	began := time.Now()
	code, _, out = a.bluegreen(ctx, "finalize", "--now")
	finalizeTook := time.Since(began)
	require.Equal(t, 0, code, "finalize:\n%s", lastLines(out, 20))
	waited := regexp.MustCompile(`none in flight after ([0-9.hmsµ]+)`).FindStringSubmatch(out)
	require.NotNil(t, waited, "finalize says how long it waited:\n%s", lastLines(out, 20))
	wg.Wait()
	stopLoad()
	res := wait()

	require.Len(t, streams, 20)
	sort.Slice(streams, func(i, j int) bool { return streams[i].duration < streams[j].duration })
	byColor := map[string]int{}
	cut := 0
	for _, s := range streams {
		byColor[s.color]++
		if s.err != nil || !s.done || s.chunks != s.words {
			cut++
			t.Logf("cut stream on %s: %d of %d chunks, done=%v, err=%v after %s", s.color, s.chunks, s.words, s.done, s.err, s.duration.Round(time.Second))
		}
	}
	t.Logf("streams: %d (%v by colour), %s to %s; finalize waited %s for green's streams (took %s); short requests: %d, %d non-2xx, %d transport errors",
		len(streams), byColor, streams[0].duration.Round(time.Second), streams[len(streams)-1].duration.Round(time.Second),
		waited[1], finalizeTook.Round(time.Second), res.Total, res.Non2xx, res.TransportErrors)
	assert.Zero(t, cut, "streams cut by the cutover")
	assert.Greater(t, streams[0].duration, streamGrace, "the shortest stream outlasted the pods' whole shutdown window")
	assert.Equal(t, 10, byColor["green"], "the second wave streamed from green, which finalize scaled down")
	assert.Zero(t, res.Non2xx+res.TransportErrors, "short requests failed")
}
