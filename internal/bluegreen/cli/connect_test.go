package cli

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
)

// kubeconfig points at a loopback address nothing is asked of: connecting only
// builds clients.
const kubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: ctx, context: {cluster: c, user: u, namespace: from-context}}]
current-context: ctx
`

func writeKubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(p, []byte(kubeconfig), 0o600))
	return p
}

func TestConnectClusterBuildsTheStoreTheFlagsAskFor(t *testing.T) {
	t.Parallel()
	path := writeKubeconfig(t)

	cfg, err := ConnectCluster(&Global{Kubeconfig: path}, "ai-assistant", io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "from-context", cfg.Namespace, "the context's namespace by default")
	assert.Equal(t, "helm release from-context/ai-assistant", cfg.Store.Describe())

	cfg, err = ConnectCluster(&Global{Kubeconfig: path, Namespace: "prod"}, "ai-assistant", io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "prod", cfg.Namespace)

	_, file, _, _ := runtime.Caller(0)
	chart := filepath.Join(filepath.Dir(file), "..", "..", "..", "charts", "ai-assistant")
	cfg, err = ConnectCluster(&Global{Kubeconfig: path, GitOps: true, ValuesFile: "values-prod.yaml", Chart: chart}, "ai-assistant", io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "values file values-prod.yaml", cfg.Store.Describe())

	_, err = ConnectCluster(&Global{Kubeconfig: path, GitOps: true, ValuesFile: "v.yaml", Chart: "/nonexistent"}, "ai-assistant", io.Discard)
	require.ErrorIs(t, err, bluegreen.ErrBadInput)
}

func TestPushHookRunsWithTheDescription(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "pushed")
	hook := pushHook(`printf '%s|%s' "$BLUEGREEN_MESSAGE" "$BLUEGREEN_VALUES_FILE" > ` + out)
	require.NoError(t, hook(context.Background(), "values-prod.yaml", "bluegreen: switch blue -> green"))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "bluegreen: switch blue -> green|values-prod.yaml", string(b))

	err = pushHook("echo rejected >&2; exit 3")(context.Background(), "v.yaml", "x")
	require.ErrorContains(t, err, "rejected")
}
