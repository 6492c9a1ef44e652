package release

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart"
	helmrelease "helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"
)

const cacheNS = "apps"

// cachedStore is a CachedSecrets over fake clients: kube holds the Secrets, meta their
// metadata, which sync copies over with the resourceVersion given; gets counts the Secrets read.
type cachedStore struct {
	t    *testing.T
	kube *kubefake.Clientset
	meta *metadatafake.FakeMetadataClient
	gets atomic.Int32
	st   *storage.Storage
}

func newCachedStore(t *testing.T) *cachedStore {
	scheme := runtime.NewScheme()
	require.NoError(t, metav1.AddMetaToScheme(scheme))
	c := &cachedStore{t: t, kube: kubefake.NewClientset(), meta: metadatafake.NewSimpleMetadataClient(scheme)}
	c.kube.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		c.gets.Add(1)
		return false, nil, nil
	})
	c.st = storage.Init(NewCachedSecrets(c.kube.CoreV1().Secrets(cacheNS), c.meta, cacheNS))
	return c
}

// sync writes the metadata of every Secret in kube, at resourceVersion rv, as the API server
// would show it after a write.
func (c *cachedStore) sync(rv string) {
	c.t.Helper()
	secrets, err := c.kube.CoreV1().Secrets(cacheNS).List(context.Background(), metav1.ListOptions{})
	require.NoError(c.t, err)
	gvr := corev1.SchemeGroupVersion.WithResource("secrets")
	for _, s := range secrets.Items {
		m := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: s.ObjectMeta}
		m.ResourceVersion = rv
		_ = c.meta.Tracker().Delete(gvr, cacheNS, s.Name)
		require.NoError(c.t, c.meta.Tracker().Add(m))
	}
}

func rel(version int, status helmrelease.Status) *helmrelease.Release {
	return &helmrelease.Release{
		Name: "ai-assistant", Namespace: cacheNS, Version: version,
		Info:   &helmrelease.Info{Status: status, Description: "test"},
		Chart:  &chart.Chart{Metadata: &chart.Metadata{Name: "ai-assistant", Version: "1.0.0"}, Values: map[string]any{"activeColor": "blue"}},
		Config: map[string]any{"activeColor": "blue"},
	}
}

func TestCachedSecretsDecodesEachRevisionOnce(t *testing.T) {
	c := newCachedStore(t)
	require.NoError(t, c.st.Create(rel(1, helmrelease.StatusSuperseded)))
	require.NoError(t, c.st.Create(rel(2, helmrelease.StatusDeployed)))
	c.sync("10")

	for range 3 {
		last, err := c.st.Last("ai-assistant")
		require.NoError(t, err)
		assert.Equal(t, 2, last.Version)
		assert.Equal(t, "deployed", last.Labels["status"], "the Secret's labels, as Helm's driver gives them")
		deployed, err := c.st.Deployed("ai-assistant")
		require.NoError(t, err)
		assert.Equal(t, 2, deployed.Version)
	}
	assert.EqualValues(t, 2, c.gets.Load(), "each revision is read and decoded once, however often it is queried")

	// An upgrade: revision 2 superseded (a new resourceVersion), revision 3 deployed.
	r2 := rel(2, helmrelease.StatusSuperseded)
	require.NoError(t, c.st.Update(r2))
	r3 := rel(3, helmrelease.StatusDeployed)
	r3.Config = map[string]any{"activeColor": "green"}
	require.NoError(t, c.st.Create(r3))
	c.sync("11")
	last, err := c.st.Last("ai-assistant")
	require.NoError(t, err)
	assert.Equal(t, 3, last.Version)
	assert.Equal(t, "green", last.Config["activeColor"])
	h, err := c.st.History("ai-assistant")
	require.NoError(t, err)
	status := map[int]helmrelease.Status{}
	for _, r := range h {
		status[r.Version] = r.Info.Status
	}
	assert.Equal(t, map[int]helmrelease.Status{1: helmrelease.StatusSuperseded, 2: helmrelease.StatusSuperseded, 3: helmrelease.StatusDeployed}, status,
		"a Secret at a new resourceVersion is decoded again")
}

func TestCachedSecretsHandsOutCopies(t *testing.T) {
	c := newCachedStore(t)
	require.NoError(t, c.st.Create(rel(1, helmrelease.StatusDeployed)))
	c.sync("10")
	first, err := c.st.Last("ai-assistant")
	require.NoError(t, err)
	first.Info.Status = helmrelease.StatusSuperseded // as Helm's upgrade does to the release it replaces
	first.Config["activeColor"] = "green"
	first.Chart.Values["activeColor"] = "green"
	first.Chart.Metadata.Version = "9.9.9"

	again, err := c.st.Last("ai-assistant")
	require.NoError(t, err)
	assert.Equal(t, helmrelease.StatusDeployed, again.Info.Status)
	assert.Equal(t, "blue", again.Config["activeColor"])
	assert.Equal(t, "blue", again.Chart.Values["activeColor"])
	assert.Equal(t, "1.0.0", again.Chart.Metadata.Version)
}

func TestCachedSecretsNotFound(t *testing.T) {
	c := newCachedStore(t)
	_, err := c.st.Last("ai-assistant")
	assert.ErrorIs(t, err, driver.ErrReleaseNotFound)

	// Listed, then deleted before it was read (history pruned by another run): skipped.
	require.NoError(t, c.st.Create(rel(1, helmrelease.StatusDeployed)))
	c.sync("10")
	require.NoError(t, c.kube.CoreV1().Secrets(cacheNS).Delete(context.Background(), "sh.helm.release.v1.ai-assistant.v1", metav1.DeleteOptions{}))
	_, err = c.st.Last("ai-assistant")
	assert.ErrorIs(t, err, driver.ErrReleaseNotFound)
}
