package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/cli"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/fakecluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/leasetest"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/release"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// fastFlags shrink the gates to test scale.
var fastFlags = []string{"--timeout=1s", "--gate-passes=2", "--gate-interval=5ms", "--gate-timeout=300ms", "--drain-timeout=300ms", "--max-old-rate=0", "--verify-for=20ms", "--failure-limit=0"}

var clock = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// newCluster installs the real chart into a simulated cluster and returns a
// Connect that hands the command a configuration over it.
func newCluster(t *testing.T) (*fakecluster.Cluster, cli.Connect) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	chart := filepath.Join(filepath.Dir(file), "..", "..", "..", "charts", "ai-assistant")
	cl := fakecluster.New("prod")
	require.NoError(t, cl.LoadImage("docker.io/library/ai-assistant:1.0.0"))
	require.NoError(t, cl.LoadImage("docker.io/library/ai-assistant:2.0.0"))
	require.NoError(t, cl.Install("ai-assistant", chart, map[string]any{
		"image":       map[string]any{"repository": "ai-assistant", "tag": "1.0.0"},
		"autoscaling": map[string]any{"enabled": false},
	}))
	connect := func(g *cli.Global, releaseName string, _ io.Writer) (*bluegreen.Configuration, error) {
		ns := g.Namespace
		store := release.NewHelmStore(cl.Helm, releaseName, ns)
		cfg := bluegreen.NewConfiguration(store, cl.Kube, cl, releaseName, ns)
		cfg.PollInterval, cfg.ConvergeTimeout = 5*time.Millisecond, 30*time.Second // never waited out when passing
		cfg.Holder = "test@host pid 1"
		cfg.Clock = testingclock.NewFakeClock(clock)
		return cfg, nil
	}
	return cl, connect
}

func run(ctx context.Context, connect cli.Connect, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = cli.Main(ctx, args, &out, &errOut, connect)
	return code, out.String(), errOut.String()
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(*testing.T, *fakecluster.Cluster)
		args  []string
		want  int
		says  string
	}{
		{name: "deploy", args: []string{"deploy", "ai-assistant", "--tag", "2.0.0"}, want: cli.ExitOK, says: "deploy ai-assistant (namespace prod): done"},
		{name: "missing tag", args: []string{"deploy", "ai-assistant"}, want: cli.ExitBadInput, says: "nothing to deploy"},
		{name: "unknown release", args: []string{"deploy", "nope", "--tag", "2.0.0"}, want: cli.ExitBadInput, says: `release "nope" not found`},
		{name: "image on no node, required there", args: []string{"deploy", "ai-assistant", "--tag", "3.0.0", "--require-image-on-node"}, want: cli.ExitBadInput, says: "on none of the 1 nodes"},
		{name: "image on no node fails its pull", args: []string{"deploy", "ai-assistant", "--tag", "3.0.0"}, want: cli.ExitGateFailed, says: "is ErrImagePull (image ai-assistant:3.0.0)"},
		{name: "bad output", args: []string{"status", "ai-assistant", "-o", "yaml"}, want: cli.ExitBadInput, says: "--output must be text or json"},
		{name: "unknown flag", args: []string{"deploy", "ai-assistant", "--colour", "red"}, want: cli.ExitBadInput, says: "unknown flag"},
		{name: "bad env", args: []string{"deploy", "ai-assistant", "--tag", "2.0.0", "--env", "NOVALUE"}, want: cli.ExitBadInput, says: "is not NAME=VALUE"},
		{name: "deploy --set", args: []string{"deploy", "ai-assistant", "--set", "config.DEFAULT_MODEL=gpt-4o-mini"}, want: cli.ExitOK, says: "staging under green: config.DEFAULT_MODEL"},
		{name: "deploy -f", args: []string{"deploy", "ai-assistant", "-f", "testdata/model-values.yaml"}, want: cli.ExitOK, says: "staging under green: config.DEFAULT_MODEL"},
		{name: "--set unknown key", args: []string{"deploy", "ai-assistant", "--set", "replicaz=3"}, want: cli.ExitBadInput, says: `unknown key "replicaz"`},
		{name: "--set shared-only key", args: []string{"deploy", "ai-assistant", "--set", "service.type=NodePort"}, want: cli.ExitBadInput, says: `key "service" does not shape a colour's pods`},
		{name: "--set rejected value", args: []string{"deploy", "ai-assistant", "--set", "config.MAX_TOKENS=lots"}, want: cli.ExitBadInput, says: "/green/config/MAX_TOKENS"},
		{name: "-f missing file", args: []string{"deploy", "ai-assistant", "-f", "testdata/no-such-values.yaml"}, want: cli.ExitBadInput, says: "no-such-values.yaml"},
		{
			name: "locked",
			setup: func(t *testing.T, cl *fakecluster.Cluster) {
				leasetest.Hold(t, cl.Kube.CoordinationV1().Leases("prod"), "bluegreen-ai-assistant", "bob@ci pid 7", "deploy")
			},
			args: []string{"deploy", "ai-assistant", "--tag", "2.0.0"}, want: cli.ExitLocked, says: "bob@ci pid 7",
		},
		{
			name: "gate failed",
			setup: func(_ *testing.T, cl *fakecluster.Cluster) {
				cl.Respond = func(p fakecluster.Probe) (int, bool) { return 503, p.Color == "green" && p.Path == "/ready" }
			},
			args: []string{"deploy", "ai-assistant", "--tag", "2.0.0"}, want: cli.ExitGateFailed, says: "gate failed, traffic untouched",
		},
		{
			name: "reverted",
			setup: func(_ *testing.T, cl *fakecluster.Cluster) {
				cl.Respond = func(p fakecluster.Probe) (int, bool) {
					return 503, p.Color == "green" && p.Active == "green" && p.Path == "/health"
				}
			},
			args: []string{"deploy", "ai-assistant", "--tag", "2.0.0"}, want: cli.ExitReverted, says: "traffic switched back",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cl, connect := newCluster(t)
			if tc.setup != nil {
				tc.setup(t, cl)
			}
			args := append([]string{"-n", "prod"}, tc.args...)
			if tc.args[0] == "deploy" && tc.name != "unknown flag" {
				args = append(args, fastFlags...)
			}
			code, stdout, stderr := run(context.Background(), connect, args...)
			assert.Equal(t, tc.want, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Contains(t, stdout+stderr, tc.says)
		})
	}
}

func TestInterruptPrintsTheStateLeftAndHowToContinue(t *testing.T) {
	t.Parallel()
	cl, connect := newCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	cl.Respond = func(p fakecluster.Probe) (int, bool) {
		if p.Active == "green" {
			once.Do(cancel) // Ctrl-C right after the switch
		}
		return 0, false
	}
	code, stdout, stderr := run(ctx, connect, append([]string{"-n", "prod", "deploy", "ai-assistant", "--tag", "2.0.0"}, fastFlags...)...)
	assert.Equal(t, cli.ExitInterrupted, code, stderr)
	assert.Contains(t, stdout, "deploy ai-assistant (namespace prod): interrupted")
	assert.Contains(t, stdout, "phase: unverified, active green, idle blue")
	assert.Contains(t, stdout, "interrupted: run `bluegreen deploy` again")
	assert.Contains(t, stdout, "bluegreen -n prod promote ai-assistant")
	assert.Contains(t, stdout, "lock: free; an interrupted deploy left step \"switched\" (blue -> green)")
}

func TestDeployJSONAndStatus(t *testing.T) {
	t.Parallel()
	_, connect := newCluster(t)
	code, stdout, stderr := run(context.Background(), connect, append([]string{"-n", "prod", "-o", "json", "deploy", "ai-assistant", "--tag", "2.0.0"}, fastFlags...)...)
	require.Equal(t, cli.ExitOK, code, stderr)
	assert.Contains(t, stderr, "==> switch service ai-assistant from blue to green", "progress goes to stderr")
	var res bluegreen.Result
	require.NoError(t, json.Unmarshal([]byte(stdout), &res), "stdout is one JSON document")
	assert.Equal(t, "done", res.Outcome)
	require.NotNil(t, res.Status)
	assert.Equal(t, values.Green, res.Status.Active)
	assert.Equal(t, bluegreen.PhaseRollbackReady, res.Status.Phase)
	assert.NotEmpty(t, res.Next)

	code, stdout, stderr = run(context.Background(), connect, "-n", "prod", "status", "ai-assistant")
	require.Equal(t, cli.ExitOK, code, stderr)
	golden := filepath.Join("testdata", "status-after-deploy.golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, []byte(stdout), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./internal/bluegreen/cli -update to create it")
	if diff := cmp.Diff(string(want), stdout); diff != "" {
		t.Errorf("status differs from %s (-want +got):\n%s", golden, diff)
	}

	code, stdout, _ = run(context.Background(), connect, "-n", "prod", "-o", "json", "status", "ai-assistant")
	require.Equal(t, cli.ExitOK, code)
	var s bluegreen.Status
	require.NoError(t, json.Unmarshal([]byte(stdout), &s))
	assert.Equal(t, "ai-assistant-preview", s.Preview.Name)
	assert.Equal(t, "blue", s.Preview.Color)
	assert.True(t, strings.HasPrefix(s.Source, "helm release prod/ai-assistant"))
}
