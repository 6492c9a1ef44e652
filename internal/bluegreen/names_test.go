package bluegreen_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/fakecluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/release"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// TestNamesComeFromTheRelease: with Helm's longest release name (53 characters) and a
// nameOverride, the command finds both Deployments and both Services the release rendered,
// whose names all fit a DNS label, and deploys through them.
func TestNamesComeFromTheRelease(t *testing.T) {
	t.Parallel()
	name := strings.Repeat("r", 53)
	cl := fakecluster.New(testNS)
	require.NoError(t, cl.LoadImage("docker.io/library/ai-assistant:2.0.0"))
	require.NoError(t, cl.Install(name, chartDir(t), map[string]any{
		"image":        map[string]any{"repository": repo, "tag": "1.0.0"},
		"nameOverride": "assistant-api",
	}))
	cfg := bluegreen.NewConfiguration(release.NewHelmStore(cl.Helm, name, testNS), cl.Kube, cl, name, testNS)
	cfg.PollInterval = 5 * time.Millisecond
	cfg.Holder = "test@host pid 1"
	cfg.Log = t.Logf

	s, err := bluegreen.NewStatus(cfg).Run(context.Background())
	require.NoError(t, err)
	for _, c := range []values.Color{values.Blue, values.Green} {
		assert.True(t, s.Colors[c].Exists, "deployment %s found", s.Colors[c].Deployment)
	}
	assert.True(t, s.Service.Exists, "service %s found", s.Service.Name)
	assert.True(t, s.Preview.Exists, "preview service %s found", s.Preview.Name)
	assert.LessOrEqual(t, len(s.Preview.Name), 63, s.Preview.Name)

	d := bluegreen.NewDeploy(cfg)
	d.Tag = "2.0.0"
	fast(&d.Cutover)
	_, err = d.Run(context.Background())
	require.NoError(t, err)
	s, err = bluegreen.NewStatus(cfg).Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, values.Green, s.Active)
	assert.Equal(t, "green", s.Service.Color, "the release's own Service was switched")
}

// TestHistoryKeepsTenCutovers: the default history bound keeps every revision of ten
// cutovers, and the bound reaches Helm (a store with a bound of 3 keeps 3).
func TestHistoryKeepsTenCutovers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]any{"autoscaling": map[string]any{"enabled": false}})
	for i := range 10 {
		d := f.deploy([]string{"2.0.0", "1.0.0"}[i%2])
		_, err := d.Run(context.Background())
		require.NoError(t, err, "cutover %d", i+1)
		fin := bluegreen.NewFinalize(f.cfg)
		fin.Now = true
		_, err = fin.Run(context.Background())
		require.NoError(t, err, "finalize %d", i+1)
	}
	h := f.history()
	assert.LessOrEqual(t, len(h), release.DefaultHistoryMax)
	assert.Equal(t, "Install complete", h[0], "ten cutovers later the install is still in the history")

	store := release.NewHelmStore(f.cl.Helm, testRelease, testNS)
	store.MaxHistory = 3
	f.cfg.Store = store
	_, err := f.deploy("2.0.0").Run(context.Background())
	require.NoError(t, err)
	assert.Len(t, f.history(), 3, "the bound reaches Helm")
}

// TestObjectsInTheOverriddenNamespace: with namespaceOverride the chart's objects live in
// another namespace than the release. The command finds them there (from the release's
// manifest), deploys through them, and keeps its lock beside the release.
func TestObjectsInTheOverriddenNamespace(t *testing.T) {
	t.Parallel()
	cl := fakecluster.New("apps")
	cl.ReleaseNamespace = "platform"
	require.NoError(t, cl.LoadImage("docker.io/library/ai-assistant:2.0.0"))
	require.NoError(t, cl.Install(testRelease, chartDir(t), map[string]any{
		"image":             map[string]any{"repository": repo, "tag": "1.0.0"},
		"namespaceOverride": "apps",
	}))
	cfg := bluegreen.NewConfiguration(release.NewHelmStore(cl.Helm, testRelease, "platform"), cl.Kube, cl, testRelease, "platform")
	cfg.PollInterval = 5 * time.Millisecond
	cfg.Holder = "test@host pid 1"
	cfg.Log = t.Logf

	s, err := bluegreen.NewStatus(cfg).Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "apps", s.ObjectNamespace)
	assert.True(t, s.Colors[values.Blue].Exists && s.Service.Exists, "blue and its Service found in apps")

	d := bluegreen.NewDeploy(cfg)
	d.Tag = "2.0.0"
	fast(&d.Cutover)
	_, err = d.Run(context.Background())
	require.NoError(t, err)
	svc, err := cl.Kube.CoreV1().Services("apps").Get(context.Background(), testRelease, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "green", svc.Spec.Selector["color"], "the Service in apps was switched")
	for _, p := range cl.Probes() {
		require.NotEmpty(t, p.Color, "probe %s %s reached a pod of the release", p.Kind, p.Name)
	}
	leases, err := cl.Kube.CoordinationV1().Leases("apps").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, leases.Items, "the lock lives beside the release, not among the objects")
}
