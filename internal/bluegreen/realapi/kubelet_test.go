//go:build apiserver

package realapi_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/gate"
)

// nodeName is the one Node the pods are bound to.
const nodeName = "node-1"

// probePeriod is how often the stand-in kubelet probes every pod's readiness again (the chart's
// readinessProbe says 5 s; tests need not wait that long).
const probePeriod = time.Second

// createNode registers the Node the stand-in kubelets bind pods to: Ready, with room for them.
func createNode(t testing.TB, kube kubernetes.Interface) {
	t.Helper()
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: nodeName, Labels: map[string]string{corev1.LabelHostname: nodeName}},
		Status: corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("500")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("500")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
			Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		},
	}
	if _, err := kube.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node %s: %v", nodeName, err)
	}
}

// podIPs hands out pod IPs, unique across the tests sharing the control plane.
var podIPs atomic.Uint32

// kubelet stands in for the kubelet no test runs, for one namespace: it binds each new pod to
// the Node (pods/binding, as the scheduler would), reports it Running with an IP and Ready
// while its app answers /ready (pods/status, probed again every probePeriod), and finishes the
// deletion of a pod the API server marked for deletion (grace period 0, as a kubelet does once
// the containers stopped). It follows the pods with an informer and a rate-limited work queue.
type kubelet struct {
	kube kubernetes.Interface
	ns   string
	app  *app
	pods corelisters.PodLister

	queue workqueue.TypedRateLimitingInterface[string]
	mu    sync.Mutex
	ips   map[types.UID]string
}

// startKubelet runs the stand-in kubelet for namespace ns until the test ends.
func startKubelet(t testing.TB, kube kubernetes.Interface, ns string, a *app) {
	t.Helper()
	k := &kubelet{
		kube: kube, ns: ns, app: a, ips: map[types.UID]string{},
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](20*time.Millisecond, time.Second)),
	}
	// The resync re-delivers every pod each probePeriod: the periodic readiness probe.
	factory := informers.NewSharedInformerFactoryWithOptions(kube, probePeriod, informers.WithNamespace(ns))
	inf := factory.Core().V1().Pods()
	k.pods = inf.Lister()
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    k.enqueue,
		UpdateFunc: func(_, obj any) { k.enqueue(obj) },
	}); err != nil {
		t.Fatalf("kubelet: watch pods: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		k.queue.ShutDown()
		<-done
		factory.Shutdown()
	})
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		t.Fatalf("kubelet: pod informer of %s did not sync", ns)
	}
	go func() {
		defer close(done)
		for k.next(ctx) {
		}
	}()
}

func (k *kubelet) enqueue(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		k.queue.Add(key)
	}
}

// next syncs one pod; a failed sync (a conflict, mostly) is retried with backoff.
func (k *kubelet) next(ctx context.Context) bool {
	key, quit := k.queue.Get()
	if quit {
		return false
	}
	defer k.queue.Done(key)
	if err := k.sync(ctx, key); err != nil && ctx.Err() == nil {
		k.queue.AddRateLimited(key)
		return true
	}
	k.queue.Forget(key)
	return true
}

func (k *kubelet) sync(ctx context.Context, key string) error {
	_, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	p, err := k.pods.Pods(k.ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case p.DeletionTimestamp != nil:
		err := k.kube.CoreV1().Pods(k.ns).Delete(ctx, p.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &p.UID},
		})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil // gone already, or a new pod of the same name
		}
		return err
	case p.Spec.NodeName == "":
		b := &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: nodeName},
		}
		return k.kube.CoreV1().Pods(k.ns).Bind(ctx, b, metav1.CreateOptions{})
	}
	ready := k.app.ready(p)
	if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && gate.PodReady(*p) == ready {
		return nil
	}
	next := p.DeepCopy()
	next.Status = k.status(p, ready)
	_, err = k.kube.CoreV1().Pods(k.ns).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	return err
}

// status is what a kubelet reports for a pod whose containers run, Ready or not.
func (k *kubelet) status(p *corev1.Pod, ready bool) corev1.PodStatus {
	now := metav1.Now()
	st := *p.Status.DeepCopy()
	ip := k.ip(p.UID)
	st.Phase = corev1.PodRunning
	st.HostIP, st.HostIPs = "127.0.0.1", []corev1.HostIP{{IP: "127.0.0.1"}}
	st.PodIP, st.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	set := func(typ corev1.PodConditionType, ok bool) {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		for i := range st.Conditions {
			if st.Conditions[i].Type == typ {
				if st.Conditions[i].Status != s {
					st.Conditions[i].Status, st.Conditions[i].LastTransitionTime = s, now
				}
				return
			}
		}
		st.Conditions = append(st.Conditions, corev1.PodCondition{Type: typ, Status: s, LastTransitionTime: now})
	}
	set(corev1.PodScheduled, true)
	set(corev1.PodInitialized, true)
	set(corev1.ContainersReady, ready)
	set(corev1.PodReady, ready)
	st.ContainerStatuses = nil
	for i, c := range p.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: "sha256:" + fmt.Sprintf("%064x", i+1),
			ContainerID: fmt.Sprintf("containerd://%s-%d", p.UID, i),
			Ready:       ready, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: *st.StartTime}},
		})
	}
	return st
}

func (k *kubelet) ip(uid types.UID) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ip, ok := k.ips[uid]; ok {
		return ip
	}
	n := podIPs.Add(1)
	k.ips[uid] = fmt.Sprintf("10.244.%d.%d", n/250, n%250+1)
	return k.ips[uid]
}
