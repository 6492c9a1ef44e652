//go:build apiserver

package realapi_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	helmcli "helm.sh/helm/v3/pkg/cli"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/cli"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/gate"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/testenv"
)

const releaseName = "ai-assistant"

// cluster is the control plane the tests share, each in its own namespace.
type cluster struct {
	*testenv.KubeAPI
	chartDir string
	seq      atomic.Int32
}

func startCluster(t testing.TB) *cluster {
	t.Helper()
	k := testenv.StartKubeAPI(t)
	createNode(t, k.Client)
	c := &cluster{KubeAPI: k, chartDir: chartDir(t)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("control-plane logs:\n%s", k.LogTails())
		}
	})
	return c
}

// newClient is a clientset of its own for a component the tests run.
func (c *cluster) newClient(t testing.TB) kubernetes.Interface {
	t.Helper()
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 200, 400
	kube, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return kube
}

// chartDir is the chart the releases are installed from, found from this file.
func chartDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "charts", "ai-assistant")
	_, err := os.Stat(filepath.Join(dir, "Chart.yaml"))
	require.NoError(t, err, "the chart must be at %s", dir)
	return dir
}

// release is one installed release of the chart in a namespace of its own, with a stand-in
// kubelet and the app answering for its pods, and the cutover's Configuration built the way
// the command builds it (cli.ConnectCluster), but for its Prober.
type release struct {
	t     testing.TB
	c     *cluster
	ns    string
	app   *app
	chart *chart.Chart // loaded for this release: Helm's actions may change a chart they are given
	cfg   *bluegreen.Configuration
	helm  *action.Configuration
	book  *logBook
}

// logBook keeps the cutover's progress lines, which it logs from several goroutines.
type logBook struct {
	mu    sync.Mutex
	lines []string
}

// values are the chart values every release starts from: small, with no dependency configured
// (nothing runs the pods' containers), at version 1.0.0.
func values(over map[string]any) map[string]any {
	v := map[string]any{
		"image":        map[string]any{"repository": "ai-assistant", "tag": "1.0.0"},
		"replicaCount": 2,
		"autoscaling":  map[string]any{"enabled": false, "minReplicas": 2, "maxReplicas": 4},
		"resources":    map[string]any{"requests": map[string]any{"cpu": "10m", "memory": "32Mi"}},
	}
	for k, val := range over {
		v[k] = val
	}
	return v
}

func newRelease(t testing.TB, c *cluster, vals map[string]any) *release {
	t.Helper()
	ns := fmt.Sprintf("t%d-%s", c.seq.Add(1), dnsLabel(t.Name()))
	// The app and the kubelet are components of their own, each with its own client and rate
	// limit, as they would be: the tests' probes must not slow the cutover's requests.
	r := &release{t: t, c: c, ns: ns, app: newApp(c.newClient(t)), book: &logBook{}}
	t.Cleanup(func() {
		if t.Failed() {
			r.dump()
		}
	})
	_, err := c.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err, "create namespace %s", ns)
	startKubelet(t, c.newClient(t), ns, r.app)
	r.helm = r.helmConfig()
	r.chart, err = loader.Load(c.chartDir)
	require.NoError(t, err, "load the chart")

	in := action.NewInstall(r.helm)
	in.ReleaseName, in.Namespace = releaseName, ns
	_, err = in.RunWithContext(context.Background(), r.chart, vals)
	require.NoError(t, err, "helm install %s in %s", releaseName, ns)

	cfg, err := cli.ConnectCluster(&cli.Global{Kubeconfig: c.Kubeconfig, Namespace: ns}, releaseName, io.Discard)
	require.NoError(t, err, "connect as the command does")
	cfg.Prober = r.app // no kubelet serves the pod proxy: the app answers for the pods
	cfg.Holder = "realapi " + t.Name()
	cfg.PollInterval = 250 * time.Millisecond // the command's 2 s, scaled down within its client's 50 requests/s
	cfg.ConvergeTimeout = time.Minute
	// Long enough for a run starved of CPU (the unit suites run beside the integration suite
	// at a low CPU weight) to renew in time: at 3 s, runs lost their lease mid-cutover in CI.
	// The takeover tests wait one duration out.
	cfg.LeaseDuration = 10 * time.Second
	start := time.Now()
	cfg.Log = func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		r.book.mu.Lock()
		r.book.lines = append(r.book.lines, line)
		r.book.mu.Unlock()
		t.Logf("[%5.1fs] %s", time.Since(start).Seconds(), line)
	}
	r.cfg = cfg
	r.waitAvailable("blue", 2)
	return r
}

// helmConfig is Helm's configuration for the release's namespace, on its Secrets driver, as
// `helm` itself would build it.
func (r *release) helmConfig() *action.Configuration {
	r.t.Helper()
	settings := helmcli.New()
	settings.KubeConfig = r.c.Kubeconfig
	settings.SetNamespace(r.ns)
	hc := new(action.Configuration)
	require.NoError(r.t, hc.Init(settings.RESTClientGetter(), r.ns, "secret", func(string, ...any) {}), "initialise helm")
	return hc
}

// logged returns the cutover's progress lines so far.
func (r *release) logged() string {
	r.book.mu.Lock()
	defer r.book.mu.Unlock()
	return strings.Join(r.book.lines, "\n")
}

// with is the release as seen from a subtest: its assertions fail t.
func (r *release) with(t *testing.T) *release {
	cp := *r
	cp.t = t
	return &cp
}

// fast shrinks the gates to test scale; the waits on the controllers keep real headroom.
func fast(c *bluegreen.Cutover) {
	c.Gates = bluegreen.Gates{
		RolloutTimeout: time.Minute,
		Passes:         2,
		Interval:       250 * time.Millisecond,
		GateTimeout:    4 * time.Second, // a failing gate waits it out
		DrainTimeout:   30 * time.Second,
		MaxOldRate:     0.1,
		VerifyFor:      time.Second,
		FailureLimit:   2,
	}
	c.InFlightTimeout = 20 * time.Second
}

func (r *release) deploy(tag string) (*bluegreen.Result, error) {
	d := bluegreen.NewDeploy(r.cfg)
	d.Tag = tag
	fast(&d.Cutover)
	return d.Run(context.Background())
}

func (r *release) promote() (*bluegreen.Result, error) {
	p := bluegreen.NewPromote(r.cfg)
	fast(&p.Cutover)
	return p.Run(context.Background())
}

func (r *release) rollback() (*bluegreen.Result, error) {
	rb := bluegreen.NewRollback(r.cfg)
	fast(&rb.Cutover)
	return rb.Run(context.Background())
}

func (r *release) abort() (*bluegreen.Result, error) {
	return bluegreen.NewAbort(r.cfg).Run(context.Background())
}

// finalizeNow scales the previous colour down without waiting for its deadline.
func (r *release) finalizeNow() (*bluegreen.Result, error) {
	f := bluegreen.NewFinalize(r.cfg)
	f.Now = true
	f.InFlightTimeout = 20 * time.Second
	return f.Run(context.Background())
}

func (r *release) status() *bluegreen.Status {
	r.t.Helper()
	s, err := bluegreen.NewStatus(r.cfg).Run(context.Background())
	require.NoError(r.t, err, "status")
	return s
}

// requirePhase asserts what status reports: the phase, the active colour, and where the
// Service sends traffic.
func (r *release) requirePhase(phase, active string) *bluegreen.Status {
	r.t.Helper()
	s := r.status()
	require.Equal(r.t, phase, s.Phase, "status phase (next: %v)", s.Next)
	require.Equal(r.t, active, string(s.Active), "status active colour")
	require.Equal(r.t, active, s.Service.Color, "service %s selects, as status reads it", s.Service.Name)
	require.Equal(r.t, active, r.serviceColor(), "the live Service's selector")
	return s
}

// The phases as status reports them (bluegreen status -o json).
const (
	phaseStable        = "stable"
	phasePreview       = "preview"
	phaseRollbackReady = "rollback-ready"
)

func (r *release) deployment(color string) *appsv1.Deployment {
	r.t.Helper()
	d, err := r.c.Client.AppsV1().Deployments(r.ns).Get(context.Background(), releaseName+"-"+color, metav1.GetOptions{})
	require.NoError(r.t, err)
	return d
}

func (r *release) serviceColor() string {
	r.t.Helper()
	s, err := r.c.Client.CoreV1().Services(r.ns).Get(context.Background(), releaseName, metav1.GetOptions{})
	require.NoError(r.t, err)
	return s.Spec.Selector["color"]
}

// waitAvailable waits until a colour's Deployment asks for n replicas and the real controllers
// report n available (and the pods Ready through the stand-in kubelet).
func (r *release) waitAvailable(color string, n int32) {
	r.t.Helper()
	require.EventuallyWithT(r.t, func(c *assert.CollectT) {
		d, err := r.c.Client.AppsV1().Deployments(r.ns).Get(context.Background(), releaseName+"-"+color, metav1.GetOptions{})
		require.NoError(c, err)
		assert.Equal(c, ptrString(&n), ptrString(d.Spec.Replicas), "spec.replicas")
		assert.Equal(c, d.Generation, d.Status.ObservedGeneration, "observed generation")
		assert.Equal(c, n, d.Status.Replicas, "status.replicas")
		assert.Equal(c, n, d.Status.AvailableReplicas, "status.availableReplicas")
	}, time.Minute, 100*time.Millisecond, "deployment %s-%s to have %d available replicas", releaseName, color, n)
}

func ptrString(p *int32) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprint(*p)
}

// dump logs the namespace's objects, for a failed test.
func (r *release) dump() {
	ctx := context.Background()
	var b strings.Builder
	if ds, err := r.c.Client.AppsV1().Deployments(r.ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, d := range ds.Items {
			fmt.Fprintf(&b, "deployment %s: spec.replicas %s, status %+v\n", d.Name, ptrString(d.Spec.Replicas), d.Status)
		}
	}
	if ps, err := r.c.Client.CoreV1().Pods(r.ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range ps.Items {
			fmt.Fprintf(&b, "pod %s: node %q, phase %s, IP %s, deleting %t, conditions %v\n", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.PodIP, p.DeletionTimestamp != nil, p.Status.Conditions)
		}
	}
	if hs, err := r.c.Client.AutoscalingV2().HorizontalPodAutoscalers(r.ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, h := range hs.Items {
			fmt.Fprintf(&b, "hpa %s: min %s max %d, status %+v\n", h.Name, ptrString(h.Spec.MinReplicas), h.Spec.MaxReplicas, h.Status)
		}
	}
	if es, err := r.c.Client.CoreV1().Events(r.ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, e := range es.Items {
			fmt.Fprintf(&b, "event %s %s/%s: %s: %s (x%d)\n", e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message, e.Count)
		}
	}
	if l, err := r.c.Client.CoordinationV1().Leases(r.ns).Get(ctx, "bluegreen-"+releaseName, metav1.GetOptions{}); err == nil {
		fmt.Fprintf(&b, "lease %s: %+v %v\n", l.Name, l.Spec, l.Annotations)
	} else if !apierrors.IsNotFound(err) {
		fmt.Fprintf(&b, "lease: %v\n", err)
	}
	r.t.Logf("namespace %s at the failure:\n%s", r.ns, b.String())
}

var notDNS = regexp.MustCompile(`[^a-z0-9]+`)

// dnsLabel turns a test name into the tail of a namespace name.
func dnsLabel(name string) string {
	s := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(s) > 50 {
		s = strings.TrimRight(s[len(s)-50:], "-")
	}
	return strings.TrimLeft(s, "-")
}

// upgradeReusingValues is `helm upgrade --reuse-values --set <description>` from another tool,
// with its own Helm configuration.
func (r *release) upgradeReusingValues(description string, set map[string]any) error {
	settings := helmcli.New()
	settings.KubeConfig = r.c.Kubeconfig
	settings.SetNamespace(r.ns)
	hc := new(action.Configuration)
	if err := hc.Init(settings.RESTClientGetter(), r.ns, "secret", func(string, ...any) {}); err != nil {
		return fmt.Errorf("initialise helm: %w", err)
	}
	ch, err := loader.Load(r.c.chartDir)
	if err != nil {
		return fmt.Errorf("load the chart: %w", err)
	}
	u := action.NewUpgrade(hc)
	u.Namespace, u.ReuseValues = r.ns, true
	u.Description = "helm upgrade --reuse-values --set " + description
	if _, err := u.RunWithContext(context.Background(), releaseName, ch, set); err != nil {
		return fmt.Errorf("helm upgrade --reuse-values: %w", err)
	}
	return nil
}

// selector is the label selector of a colour's pods.
func (r *release) selector(color string) string {
	r.t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(r.deployment(color).Spec.Selector)
	require.NoError(r.t, err)
	return sel.String()
}

// requireServing asserts that the Service's ready endpoints (written by the real endpointslice
// controller) are exactly the Ready pods of color, and that a request through it is answered by
// that colour at version.
func (r *release) requireServing(color, version string) {
	r.t.Helper()
	ctx := context.Background()
	pods, err := r.c.Client.CoreV1().Pods(r.ns).List(ctx, metav1.ListOptions{LabelSelector: r.selector(color)})
	require.NoError(r.t, err)
	want := map[string]bool{}
	for _, p := range pods.Items {
		if gate.PodReady(p) && p.DeletionTimestamp == nil {
			want[p.Status.PodIP] = true
		}
	}
	require.NotEmpty(r.t, want, "%s has Ready pods", color)
	got, err := gate.ReadyEndpoints(ctx, r.c.Client, r.ns, releaseName)
	require.NoError(r.t, err)
	require.Equal(r.t, want, got, "service %s's ready endpoints are the Ready pods of %s", releaseName, color)
	resp, err := r.app.Service(ctx, r.ns, releaseName, "http", "/ready")
	require.NoError(r.t, err)
	require.Equal(r.t, 200, resp.Status, "GET /ready through service %s: %s", releaseName, resp.Body)
	require.Equal(r.t, color, resp.Header.Get(gate.HeaderColor), "colour answering through service %s", releaseName)
	require.Equal(r.t, version, resp.Header.Get(gate.HeaderVersion), "version answering through service %s", releaseName)
}

// requireScaledToZero waits until a colour's Deployment asks for no replica, its pods are gone
// and no autoscaler targets it.
func (r *release) requireScaledToZero(color string) {
	r.t.Helper()
	name := releaseName + "-" + color
	sel := r.selector(color)
	require.EventuallyWithT(r.t, func(c *assert.CollectT) {
		ctx := context.Background()
		d, err := r.c.Client.AppsV1().Deployments(r.ns).Get(ctx, name, metav1.GetOptions{})
		require.NoError(c, err)
		assert.Equal(c, "0", ptrString(d.Spec.Replicas), "spec.replicas")
		assert.Equal(c, int32(0), d.Status.Replicas, "status.replicas")
		pods, err := r.c.Client.CoreV1().Pods(r.ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		require.NoError(c, err)
		assert.Empty(c, pods.Items, "pods of %s", name)
		_, err = r.c.Client.AutoscalingV2().HorizontalPodAutoscalers(r.ns).Get(ctx, name, metav1.GetOptions{})
		assert.True(c, apierrors.IsNotFound(err), "no autoscaler for %s at zero replicas (got %v)", name, err)
	}, time.Minute, 100*time.Millisecond, "%s scaled to zero", name)
}

// requireAutoscaled waits until a colour's autoscaler asks for at least n replicas, the real
// autoscaling controller has seen it run n, and the Deployment runs n available.
func (r *release) requireAutoscaled(color string, n int32) {
	r.t.Helper()
	name := releaseName + "-" + color
	require.EventuallyWithT(r.t, func(c *assert.CollectT) {
		h, err := r.c.Client.AutoscalingV2().HorizontalPodAutoscalers(r.ns).Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(c, err, "autoscaler %s", name)
		assert.Equal(c, ptrString(&n), ptrString(h.Spec.MinReplicas), "minReplicas")
		assert.Equal(c, n, h.Status.CurrentReplicas, "the autoscaling controller's status.currentReplicas")
		able := false
		for _, cond := range h.Status.Conditions {
			able = able || (cond.Type == autoscalingv2.AbleToScale && cond.Status == corev1.ConditionTrue)
		}
		assert.True(c, able, "the autoscaling controller reports AbleToScale: %+v", h.Status.Conditions)
	}, time.Minute, 100*time.Millisecond, "autoscaler %s", name)
	r.waitAvailable(color, n)
}

// replicaLog is every distinct spec.replicas a Deployment had, in order, from a watch.
type replicaLog struct {
	mu     sync.Mutex
	seen   []int32
	lastRV string
}

// recordReplicas watches a colour's Deployment until the test ends.
func (r *release) recordReplicas(color string) *replicaLog {
	r.t.Helper()
	name := releaseName + "-" + color
	d := r.deployment(color)
	l := &replicaLog{lastRV: d.ResourceVersion}
	l.add(d.Spec.Replicas, d.ResourceVersion)
	ctx, cancel := context.WithCancel(context.Background())
	lw := cache.NewListWatchFromClient(r.c.Client.AppsV1().RESTClient(), "deployments", r.ns, fields.OneTermEqualSelector("metadata.name", name))
	w, err := watchtools.NewRetryWatcherWithContext(ctx, d.ResourceVersion, lw)
	require.NoError(r.t, err, "watch deployment %s", name)
	done := make(chan struct{})
	r.t.Cleanup(func() { cancel(); w.Stop(); <-done })
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if d, ok := ev.Object.(*appsv1.Deployment); ok {
				l.add(d.Spec.Replicas, d.ResourceVersion)
			}
		}
	}()
	return l
}

func (l *replicaLog) add(n *int32, rv string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastRV = rv
	v := int32(-1) // unset, which the API server never leaves
	if n != nil {
		v = *n
	}
	if len(l.seen) == 0 || l.seen[len(l.seen)-1] != v {
		l.seen = append(l.seen, v)
	}
}

// values returns what the watch saw up to the Deployment's current resourceVersion.
func (l *replicaLog) values(r *release, color string) []int32 {
	r.t.Helper()
	d := r.deployment(color)
	require.Eventually(r.t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.lastRV == d.ResourceVersion
	}, 30*time.Second, 10*time.Millisecond, "the watch of %s to reach resourceVersion %s", d.Name, d.ResourceVersion)
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int32(nil), l.seen...)
}
