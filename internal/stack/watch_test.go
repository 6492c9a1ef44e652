package stack

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestWatchSelectorRecordsEachSwitch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cs := fake.NewClientset(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "app", "color": "blue"}},
	})
	// The fake does not replay what changed between the informer's list and its watch:
	// the updates wait until the watch is registered (client-go's fake-client example).
	watching := make(chan struct{})
	started := sync.OnceFunc(func() { close(watching) })
	var mu sync.Mutex
	var watches []watch.Interface
	cs.PrependWatchReactor("services", func(action k8stesting.Action) (bool, watch.Interface, error) {
		w, err := cs.Tracker().Watch(action.GetResource(), action.GetNamespace(), action.(k8stesting.WatchActionImpl).ListOptions)
		if err != nil {
			return false, nil, err
		}
		mu.Lock()
		watches = append(watches, w)
		mu.Unlock()
		started()
		return true, w, nil
	})

	before := time.Now()
	w := WatchSelector(cs, "ns", "app")
	select {
	case <-watching:
	case <-time.After(10 * time.Second):
		w.Stop()
		t.Fatal("the watch on the Service never started")
	}
	for _, color := range []string{"green", "blue"} {
		svc, err := cs.CoreV1().Services("ns").Get(ctx, "app", metav1.GetOptions{})
		require.NoError(t, err)
		svc.Spec.Selector["color"] = color
		_, err = cs.CoreV1().Services("ns").Update(ctx, svc, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	// Delivery is asynchronous: wait until the last colour has come through.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		s := w.seen()
		if assert.NotEmpty(c, s, "no switch seen yet") {
			assert.Equal(c, "blue", s[len(s)-1].Color, "switches so far: %v", s)
		}
	}, 10*time.Second, 5*time.Millisecond, "waiting for the switch back to blue")
	got := w.Stop()
	after := time.Now()
	mu.Lock()
	for _, fw := range watches {
		assert.True(t, fw.(interface{ IsStopped() bool }).IsStopped(), "Stop returned before its watch had ended")
	}
	mu.Unlock()

	require.Len(t, got, 2, "blue (the start) -> green -> blue is two switches: %v", got)
	assert.Equal(t, "green", got[0].Color)
	assert.Equal(t, "blue", got[1].Color)
	assert.False(t, got[0].At.Before(before) || got[1].At.Before(got[0].At) || after.Before(got[1].At),
		"switch times are in order within the test: %v", got)

	// The fake ignores field selectors, so check that the requests asked for the one Service.
	var listWatch int
	for _, a := range cs.Actions() {
		switch a := a.(type) {
		case k8stesting.ListActionImpl:
			assert.Equal(t, "metadata.name=app", a.ListOptions.FieldSelector, "list")
			listWatch++
		case k8stesting.WatchActionImpl:
			assert.Equal(t, "metadata.name=app", a.ListOptions.FieldSelector, "watch")
			listWatch++
		}
	}
	assert.GreaterOrEqual(t, listWatch, 2, "a list and a watch: %v", cs.Actions())
}
