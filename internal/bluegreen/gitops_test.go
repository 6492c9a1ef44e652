package bluegreen_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/release"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/golden"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

const gitopsValues = `# Production values, synced by Argo CD.
image:
  repository: ai-assistant # the registry mirror
  tag: 1.0.0
autoscaling:
  enabled: false
replicaCount: 2
`

// gitopsSync is what Flux's helm-controller or Argo CD does on a commit: render the
// release from the values file and apply it. Here it is a Helm upgrade of the fake.
func gitopsSync(t *testing.T, f *fixture, user map[string]any) error {
	t.Helper()
	rel := f.rel()
	u := action.NewUpgrade(f.cl.Helm)
	u.Namespace = testNS
	u.Description = "gitops sync"
	_, err := u.Run(testRelease, rel.Chart, user)
	return err
}

func gitopsFixture(t *testing.T) (*fixture, *release.GitOpsStore) {
	t.Helper()
	user := map[string]any{}
	require.NoError(t, sigsyaml.Unmarshal([]byte(gitopsValues), &user))
	f := newFixture(t, user)
	ch, err := loader.Load(chartDir(t))
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "values-prod.yaml")
	require.NoError(t, os.WriteFile(file, []byte(gitopsValues), 0o644))
	store := &release.GitOpsStore{ValuesFile: file, Chart: ch, Release: testRelease, Namespace: testNS}
	f.cfg.Store = store
	return f, store
}

func TestGitOpsEditsTheValuesFileAndWaitsForTheSync(t *testing.T) {
	t.Parallel()
	f, store := gitopsFixture(t)
	var commits []string
	store.AfterWrite = func(_ context.Context, path, description string) error {
		commits = append(commits, description)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		user := map[string]any{}
		if err := sigsyaml.Unmarshal(b, &user); err != nil {
			return err
		}
		return gitopsSync(t, f, user)
	}
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)

	b, err := os.ReadFile(store.ValuesFile)
	require.NoError(t, err)
	file := string(b)
	assert.Contains(t, file, "# Production values, synced by Argo CD.", "comments are kept")
	assert.Contains(t, file, "repository: ai-assistant # the registry mirror")
	assert.Contains(t, file, "activeColor: green")
	assert.Contains(t, file, "tag: 2.0.0")
	assert.Contains(t, file, "scaleDownAt: \"2026-11-25T12:10:00Z\"")
	assert.Equal(t, "green", f.serviceColor())
	assert.Len(t, commits, 3, "prepare, switch, deadline")
	for _, d := range f.history() {
		assert.False(t, strings.HasPrefix(d, "bluegreen:"), "the tool never upgraded the release itself: %q", d)
	}
}

func TestGitOpsPrintsTheChangesItWaitsFor(t *testing.T) {
	t.Parallel()
	f, store := gitopsFixture(t)
	var out bytes.Buffer
	// The pipeline that reads the printed change, commits it and lets the tool sync.
	store.Print = writerFunc(func(p []byte) (int, error) {
		out.Write(p)
		snap, err := store.Load(context.Background())
		if err != nil {
			return 0, err
		}
		return len(p), gitopsSync(t, f, snap.User)
	})
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)
	b, err := os.ReadFile(store.ValuesFile)
	require.NoError(t, err)
	assert.Equal(t, gitopsValues, string(b), "printing leaves the file alone")
	assert.Equal(t, "green", f.serviceColor())

	got := strings.ReplaceAll(out.String(), store.ValuesFile, "values-prod.yaml")
	golden.Assert(t, filepath.Join("testdata", "gitops-print.golden"), got, *update, "go test ./internal/bluegreen -run TestGitOpsPrints -update")
}

func TestGitOpsWithoutSyncTimesOutBeforeTheSwitch(t *testing.T) {
	t.Parallel()
	f, store := gitopsFixture(t)
	store.AfterWrite = func(context.Context, string, string) error { return nil } // nobody syncs
	f.cfg.ConvergeTimeout = 200 * 1e6
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "wait for the cluster to show")
	assert.Equal(t, "blue", f.serviceColor())
}

func TestEditValuesKeepsCommentsAndOtherKeys(t *testing.T) {
	t.Parallel()
	out, err := values.Edit([]byte(gitopsValues), values.Change{
		"green.image.tag": "2.0.0", "green.replicas": 4, "blue.replicas": nil, "activeColor": "green",
	})
	require.NoError(t, err)
	want := `# Production values, synced by Argo CD.
image:
  repository: ai-assistant # the registry mirror
  tag: 1.0.0
autoscaling:
  enabled: false
replicaCount: 2
activeColor: green
blue:
  replicas: null
green:
  image:
    tag: 2.0.0
  replicas: 4
`
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("edited values (-want +got):\n%s", diff)
	}
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }
