//go:build integration

package integration

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stack"
)

// exitLocked is hack/bluegreen's exit code for a release another run holds.
const exitLocked = 3

var (
	bluegreenBuild sync.Once
	bluegreenPath  string
	bluegreenErr   error
)

// bluegreenBinary builds hack/bluegreen once per test binary: a process of its own that the
// tests can kill -9, which a cancelled context in this process cannot stand in for.
func bluegreenBinary(t *testing.T) string {
	t.Helper()
	bluegreenBuild.Do(func() {
		dir, err := filepath.Abs(filepath.Join("..", "..", ".cache", "test-bin"))
		if err != nil {
			bluegreenErr = err
			return
		}
		bluegreenPath = filepath.Join(dir, "bluegreen")
		out, err := exec.Command("go", "build", "-o", bluegreenPath, "github.com/ai-assistant-chart/ai-assistant-chart/hack/bluegreen").CombinedOutput()
		if err != nil {
			bluegreenErr = fmt.Errorf("go build hack/bluegreen: %w\n%s", err, out)
		}
	})
	require.NoError(t, bluegreenErr)
	return bluegreenPath
}

// syncBuffer is a bytes.Buffer a process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAKilledRunIsTakenOverAndConverges: the command, as a real process, is killed with
// SIGKILL mid-gate and then mid-verify. While it lives, a second run is refused with the
// locked code naming it; once it is dead, the next run takes its lease over after the lease
// duration, resumes, and converges. Not one request fails throughout.
func TestAKilledRunIsTakenOverAndConverges(t *testing.T) {
	parallel(t)
	a := newApp(t, nil)
	bin := bluegreenBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	wait := a.load(loadCtx, true, 10*time.Minute)
	const lease = 6 * time.Second
	leaseFlag := []string{"--lease-duration", lease.String()}

	for _, round := range []struct {
		name, version, at string
		resumes           bool
	}{
		{name: "mid-gate", version: stack.Versions[1], at: "==> gate:"},
		{name: "mid-verify", version: stack.Versions[0], at: "==> verify: ", resumes: true},
	} {
		args := append(append([]string{"deploy", "--tag", round.version}, fastGates...), leaseFlag...)
		args = append(args, "--gate-passes", "20", "--verify-for", "30s") // long enough to be caught in
		full := append([]string{"--kubeconfig", a.c.KubeconfigPath, "-n", a.ns}, args...)
		full = append(full, release)

		var out syncBuffer
		first := exec.CommandContext(ctx, bin, full...)
		first.Stdout, first.Stderr = &out, &out
		require.NoError(t, first.Start())
		holder := fmt.Sprintf("pid %d", first.Process.Pid)
		err := waitUntil(ctx, 50*time.Millisecond, func(context.Context) bool { return strings.Contains(out.String(), round.at) })
		require.NoError(t, err, "%s: the first run never reached %q:\n%s", round.name, round.at, lastLines(out.String(), 20))

		code, _, second := a.bluegreen(ctx, args...)
		require.Equal(t, exitLocked, code, "%s: a second run while the first lives:\n%s", round.name, lastLines(second, 15))
		assert.Contains(t, second, holder, "%s: the refusal names the holder", round.name)

		require.NoError(t, first.Process.Kill(), "kill -9")
		_ = first.Wait() // killed: its exit status is the signal
		require.Contains(t, first.ProcessState.String(), "killed", "%s: the first run died of SIGKILL", round.name)
		t.Logf("%s: killed the first run at %q; its last lines:\n%s", round.name, round.at, lastLines(out.String(), 6))

		began := time.Now()
		// The run that takes over needs no long gate: nothing is left to catch it in.
		rerun := append(append([]string{"deploy", "--tag", round.version}, fastGates...), leaseFlag...)
		code, _, third := a.bluegreen(ctx, rerun...)
		took := time.Since(began)
		require.Equal(t, 0, code, "%s: the run after the kill:\n%s", round.name, lastLines(third, 30))
		assert.Contains(t, third, "taken over if it is not renewed for "+lease.String(), "%s: it waited out the dead holder", round.name)
		if round.resumes {
			assert.Contains(t, third, `resuming deploy left at step "switched"`, "%s: the switch was resumed, not made again", round.name)
		}
		want := "green"
		if round.version == stack.Versions[0] {
			want = "blue"
		}
		assert.Equal(t, want, a.activeColor(), round.name)
		waitColor(t, a, want)
		t.Logf("%s: the next run took over and converged in %s", round.name, took.Round(100*time.Millisecond))
	}
	stopLoad()
	res := wait()
	t.Logf("load across both kills: %d requests, %d non-2xx, %d transport errors", res.Total, res.Non2xx, res.TransportErrors)
	assert.Zero(t, res.Non2xx+res.TransportErrors, "requests failed across the killed runs")
}
