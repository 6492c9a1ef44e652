package bluegreen_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/argocd"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/gitrepo"
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

// fakeArgoCD is an Argo CD Application in a fake dynamic client, whose status follows what
// Argo CD's controller reports: after a push it reads OutOfSync at the old commit once, and
// at the next read it has synced the push (sync runs the fixture's GitOps sync). fail makes
// the sync of a push fail instead.
type fakeArgoCD struct {
	status   map[string]any
	pending  func() error // the sync of the last push, run at the next read
	fail     string       // a sync failure's message
	synced   []string     // the commits synced, in order
	sawStale bool         // a read reported the commit not synced yet
}

func newFakeArgoCD(t *testing.T, store *release.GitOpsStore, sync func(user map[string]any) error) *fakeArgoCD {
	t.Helper()
	a := &fakeArgoCD{status: map[string]any{"sync": map[string]any{"status": "Synced", "revision": "seed"}, "health": map[string]any{"status": "Healthy"}}}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{argocd.Applications: "ApplicationList"})
	dyn.PrependReactor("patch", "applications", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, nil // the refresh: the next read syncs
	})
	dyn.PrependReactor("get", "applications", func(k8stesting.Action) (bool, runtime.Object, error) {
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
			"metadata": map[string]any{"name": testRelease, "namespace": "argocd"},
			"status":   values.Copy(a.status),
		}}
		if a.pending != nil {
			a.sawStale = true
			if err := a.pending(); err != nil {
				return true, nil, err
			}
			a.pending = nil
		}
		return true, obj, nil
	})
	store.App = &argocd.App{Client: dyn, Namespace: "argocd", Name: testRelease}
	store.AfterWrite = func(_ context.Context, path, _ string) error {
		rev := store.Pushed()
		a.pending = func() error {
			if a.fail != "" {
				a.status["operationState"] = map[string]any{"phase": "Failed", "message": a.fail, "syncResult": map[string]any{"revision": rev}}
				a.status["sync"] = map[string]any{"status": "OutOfSync", "revision": rev}
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			user := map[string]any{}
			if err := sigsyaml.Unmarshal(b, &user); err != nil {
				return err
			}
			if err := sync(user); err != nil {
				return err
			}
			a.synced = append(a.synced, rev)
			a.status["operationState"] = map[string]any{"phase": "Succeeded", "syncResult": map[string]any{"revision": rev}}
			a.status["sync"] = map[string]any{"status": "Synced", "revision": rev}
			return nil
		}
		return nil
	}
	return a
}

// gitCheckout clones a new bare repository holding the values file, for a store with --git.
func gitCheckout(t *testing.T, store *release.GitOpsStore) *gitrepo.Checkout {
	t.Helper()
	ctx := context.Background()
	bare := filepath.Join(t.TempDir(), "env.git")
	out, err := exec.Command("git", "init", "--quiet", "--bare", "--initial-branch=main", bare).CombinedOutput()
	require.NoError(t, err, "%s", out)
	seed, err := gitrepo.Init(ctx, t.TempDir(), "main", bare)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(seed.Path("values-prod.yaml"), []byte(gitopsValues), 0o644))
	_, err = seed.Commit(ctx, "seed", "values-prod.yaml")
	require.NoError(t, err)
	_, err = seed.Push(ctx)
	require.NoError(t, err)
	co, err := gitrepo.Clone(ctx, bare, "main", filepath.Join(t.TempDir(), "co"))
	require.NoError(t, err)
	store.Checkout, store.ValuesFile = co, co.Path("values-prod.yaml")
	return co
}

// With a checkout and an Application, each step is a commit named after it, pushed; the
// cutover waits until the Application reports that commit Synced before it reads the cluster,
// and a failed sync of the commit stops it at once.
func TestGitOpsCommitsEachStepAndWaitsForTheApplicationToSyncIt(t *testing.T) {
	t.Parallel()
	f, store := gitopsFixture(t)
	co := gitCheckout(t, store)
	argo := newFakeArgoCD(t, store, func(user map[string]any) error { return gitopsSync(t, f, user) })
	logs := f.captureLog()
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "green", f.serviceColor())

	ctx := context.Background()
	head, err := co.Head(ctx)
	require.NoError(t, err)
	subjects, err := co.Log(ctx, head+"~3", head)
	require.NoError(t, err)
	require.Len(t, subjects, 3, "prepare, switch, deadline: one commit each")
	assert.Contains(t, subjects[0], "bluegreen: green verified; blue kept for rollback")
	assert.Contains(t, subjects[1], "bluegreen: switch blue -> green")
	assert.Contains(t, subjects[2], "bluegreen: prepare green")
	assert.Len(t, store.Commits, 3)
	require.Len(t, argo.synced, 3)
	assert.Equal(t, head, argo.synced[2], "the last commit pushed is the one synced")
	assert.True(t, argo.sawStale)
	assert.Contains(t, logs(), "to sync commit "+head[:7], "progress names the commit it waits for")
	assert.Contains(t, logs(), "(values written, synced and read back: ", "the switch says what its time covers")

	// A sync of the pushed commit that fails ends the wait with the Application's message.
	argo.fail = "one or more objects failed to apply"
	_, err = bluegreen.NewRollback(f.cfg).Run(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "failed to sync commit")
	assert.Contains(t, err.Error(), argo.fail)
	assert.Equal(t, "green", f.serviceColor(), "nothing synced, nothing moved")
}
