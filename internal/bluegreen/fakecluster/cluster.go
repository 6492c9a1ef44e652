// Package fakecluster stands in for a cluster in the cutover's unit tests: Helm's
// install and upgrade (memory release driver) apply the chart's rendered manifest
// to a client-go fake clientset, a small controller loop turns Deployments into
// pods, HPAs into replica counts and Services into EndpointSlices, and a fake
// Prober answers /ready, /health and /metrics for those pods as each test says.
package fakecluster

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/kube"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/gate"
)

// Cluster is a simulated namespace of a cluster.
type Cluster struct {
	// Namespace is where the chart's objects live.
	Namespace string
	// ReleaseNamespace is where Helm records the release (default: Namespace): a chart with
	// namespaceOverride puts its objects elsewhere.
	ReleaseNamespace string
	Kube             *fake.Clientset
	Helm             *action.Configuration

	mu sync.Mutex
	// leaseMu serialises Lease writes; leaseRV is their resourceVersion counter.
	leaseMu sync.Mutex
	leaseRV int
	leases  map[string]leaseVersion
	// NotReady makes a colour's pods fail their readiness (they never become Ready).
	NotReady map[string]bool
	// HPALoad is the replica count a colour's autoscaler wants (clamped to min/max).
	HPALoad map[string]int32
	// Respond overrides a probe's status code; ok=false keeps the default (200).
	Respond func(p Probe) (status int, ok bool)
	// UserTraffic is the user requests each pod of a colour serves between two
	// scrapes of its /metrics (keep-alive clients that stay after a switch).
	UserTraffic map[string]func(scrape int) float64
	// failures fail the next Helm installs or upgrades in order, one each (FailNext). One that is
	// AfterApply fails once its manifest is live, as a real upgrade that patched the
	// Service and then had another object refused.
	failures []Failure
	// Waiting keeps a colour's containers waiting with this reason (CrashLoopBackOff,
	// CreateContainerConfigError, ...). A pod whose image is on no node waits in
	// ErrImagePull on its own: the simulated nodes pull from no registry.
	Waiting map[string]string
	// ProgressDeadline marks a colour's Deployment as past its progress deadline.
	ProgressDeadline map[string]bool
	// InFlight, when set, is the user requests a pod reports in flight on /health (the server
	// reports user_requests_in_flight); unset, /health reports none, as an older image.
	InFlight func(p Probe) float64
	// NoMetrics makes a colour's pods serve no /metrics (PROMETHEUS_ENABLED=false); their
	// /health then reports user_requests_total, as the server's does.
	NoMetrics map[string]bool

	// controllers counts the simulated Helm applies and controller loops running;
	// a write to a chart object outside them is someone patching live objects.
	controllers atomic.Int32
	outOfBand   []string

	probes   []Probe
	counters map[string]float64
	scrapes  map[string]int
	nextIP   int
	applied  map[string]map[string]bool // kind -> names the last manifest had
}

// Failure is how one Helm install or upgrade fails.
type Failure struct {
	Err        error
	AfterApply bool
}

// Probe is one probe the fake prober answered.
type Probe struct {
	Kind   string // pod or service
	Name   string
	Port   string
	Color  string // the colour that answered ("" if none)
	Path   string
	Active string // the colour the main Service selected at that moment
}

// New returns an empty simulated namespace with one node.
func New(namespace string) *Cluster {
	c := &Cluster{
		Namespace:        namespace,
		Kube:             fake.NewClientset(),
		NotReady:         map[string]bool{},
		Waiting:          map[string]string{},
		ProgressDeadline: map[string]bool{},
		NoMetrics:        map[string]bool{},
		HPALoad:          map[string]int32{},
		UserTraffic:      map[string]func(int) float64{},
		counters:         map[string]float64{},
		scrapes:          map[string]int{},
		applied:          map[string]map[string]bool{},
		leases:           map[string]leaseVersion{},
	}
	c.Helm = &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard, LogOutput: io.Discard}, c: c},
		Capabilities: capabilities(),
		Log:          func(string, ...any) {},
	}
	c.Helm.Releases.MaxHistory = 0
	c.Kube.PrependReactor("*", "*", c.watchWrites)
	c.Kube.PrependReactor("*", "leases", c.leaseConcurrency)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}
	if _, err := c.Kube.CoreV1().Nodes().Create(context.Background(), node, metav1.CreateOptions{}); err != nil {
		panic(fmt.Sprintf("create fake node: %v", err)) // an empty fake clientset cannot refuse
	}
	return c
}

// capabilities are Helm's defaults on a Kubernetes the chart supports.
func capabilities() *chartutil.Capabilities {
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = chartutil.KubeVersion{Version: "v1.33.0", Major: "1", Minor: "33"}
	return caps
}

// LoadImage adds an image to the node, as `kind load` would.
func (c *Cluster) LoadImage(names ...string) error {
	ctx := context.Background()
	n, err := c.Kube.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get fake node: %w", err)
	}
	n.Status.Images = append(n.Status.Images, corev1.ContainerImage{Names: names})
	if _, err := c.Kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update fake node: %w", err)
	}
	return nil
}

// onNode reports whether the node holds image, under any of the names a runtime reports.
func (c *Cluster) onNode(ctx context.Context, image string) bool {
	n, err := c.Kube.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{})
	if err != nil {
		return false
	}
	return gate.NodeHasImage(n, image)
}

// chartKinds are the objects only Helm (or a GitOps sync) may write.
var chartKinds = map[string]bool{"deployments": true, "services": true, "horizontalpodautoscalers": true}

func (c *Cluster) watchWrites(a k8stesting.Action) (bool, runtime.Object, error) {
	switch a.GetVerb() {
	case "create", "update", "patch", "delete":
		if chartKinds[a.GetResource().Resource] && c.controllers.Load() == 0 {
			c.mu.Lock()
			c.outOfBand = append(c.outOfBand, a.GetVerb()+" "+a.GetResource().Resource)
			c.mu.Unlock()
		}
	}
	return false, nil, nil
}

// leaseConcurrency gives Leases the API server's optimistic concurrency, which the fake
// tracker lacks: every write sets a new resourceVersion, an update or a delete carrying a
// stale one is a Conflict, and a delete's UID precondition is checked. Two runs' lock writes
// then race as they do on a real cluster instead of silently overwriting each other.
func (c *Cluster) leaseConcurrency(a k8stesting.Action) (bool, runtime.Object, error) {
	c.leaseMu.Lock()
	defer c.leaseMu.Unlock()
	gr := a.GetResource().GroupResource()
	// Create and update go on to the tracker with the new resourceVersion set on the object
	// (the caller's: every caller here writes a copy it read or built). The versions are kept
	// here too: the tracker does not keep an object's resourceVersion as written.
	switch a.GetVerb() { // by verb: an UpdateAction is a CreateAction too, by its methods
	case "create":
		l := a.(k8stesting.CreateAction).GetObject().(*coordinationv1.Lease)
		if _, ok := c.leases[l.Name]; ok {
			return true, nil, apierrors.NewAlreadyExists(gr, l.Name)
		}
		c.leaseRV++
		l.ResourceVersion, l.UID = strconv.Itoa(c.leaseRV), types.UID(fmt.Sprintf("lease-uid-%d", c.leaseRV))
		c.leases[l.Name] = leaseVersion{rv: l.ResourceVersion, uid: l.UID}
	case "update":
		l := a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease)
		cur, ok := c.leases[l.Name]
		if !ok {
			return true, nil, apierrors.NewNotFound(gr, l.Name)
		}
		if l.ResourceVersion != cur.rv {
			return true, nil, apierrors.NewConflict(gr, l.Name, fmt.Errorf("resourceVersion %q is not the latest (%q)", l.ResourceVersion, cur.rv))
		}
		c.leaseRV++
		l.ResourceVersion, l.UID = strconv.Itoa(c.leaseRV), cur.uid
		c.leases[l.Name] = leaseVersion{rv: l.ResourceVersion, uid: cur.uid}
	case "delete":
		act := a.(k8stesting.DeleteAction)
		cur, ok := c.leases[act.GetName()]
		if !ok {
			return true, nil, apierrors.NewNotFound(gr, act.GetName())
		}
		if pre := act.GetDeleteOptions().Preconditions; pre != nil &&
			((pre.ResourceVersion != nil && *pre.ResourceVersion != cur.rv) || (pre.UID != nil && *pre.UID != cur.uid)) {
			return true, nil, apierrors.NewConflict(gr, act.GetName(), fmt.Errorf("the delete's precondition does not hold"))
		}
		delete(c.leases, act.GetName())
	}
	return false, nil, nil
}

// leaseVersion is a Lease's resourceVersion and UID as last written.
type leaseVersion struct {
	rv  string
	uid types.UID
}

// OutOfBandWrites lists writes to the chart's objects that did not come from a
// Helm apply or the simulated controllers: what `kubectl patch` would be.
func (c *Cluster) OutOfBandWrites() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.outOfBand...)
}

// Probes returns the probes answered so far.
func (c *Cluster) Probes() []Probe {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Probe(nil), c.probes...)
}

// kubeClient is Helm's printing fake, except that the manifest Helm built last is
// applied to the fake clientset on Create and Update.
type kubeClient struct {
	kubefake.PrintingKubeClient
	c    *Cluster
	last string
}

func (k *kubeClient) Build(r io.Reader, _ bool) (kube.ResourceList, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	k.last = string(b) // upgrade builds the current manifest, then the target: the last wins
	return kube.ResourceList{}, nil
}

func (k *kubeClient) Create(resources kube.ResourceList) (*kube.Result, error) {
	if err := k.apply(); err != nil {
		return &kube.Result{}, err
	}
	return &kube.Result{Created: resources}, nil
}

func (k *kubeClient) Update(_, target kube.ResourceList, _ bool) (*kube.Result, error) {
	if err := k.apply(); err != nil {
		return &kube.Result{}, err // Helm reads the result even on error
	}
	return &kube.Result{Updated: target}, nil
}

// apply applies the manifest Helm built, failing before or after as the cluster was told.
func (k *kubeClient) apply() error {
	f := k.c.takeFailure()
	if f.Err != nil && !f.AfterApply {
		return f.Err
	}
	if err := k.c.Apply(k.last); err != nil {
		return err
	}
	return f.Err
}

// FailNext fails the next Helm installs or upgrades as fs say, one each.
func (c *Cluster) FailNext(fs ...Failure) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures = append(c.failures, fs...)
}

func (c *Cluster) takeFailure() Failure {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.failures) == 0 {
		return Failure{}
	}
	f := c.failures[0]
	c.failures = c.failures[1:]
	return f
}

// Apply creates or updates every object of a manifest, deletes the kinds' objects
// the manifest no longer has, and reconciles.
func (c *Cluster) Apply(manifest string) error {
	c.controllers.Add(1)
	defer c.controllers.Add(-1)
	ctx := context.Background()
	seen := map[string]map[string]bool{}
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		doc := docs[k]
		if strings.TrimSpace(doc) == "" {
			continue
		}
		obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			return fmt.Errorf("decode manifest document: %w", err)
		}
		if seen[gvk.Kind] == nil {
			seen[gvk.Kind] = map[string]bool{}
		}
		if err := c.applyObject(ctx, obj, seen[gvk.Kind]); err != nil {
			return err
		}
	}
	for _, kind := range []string{"Deployment", "Service", "HorizontalPodAutoscaler"} {
		for name := range c.applied[kind] {
			if !seen[kind][name] {
				if err := c.deleteObject(ctx, kind, name); err != nil {
					return err
				}
			}
		}
	}
	c.applied = seen
	return c.Reconcile()
}

func (c *Cluster) applyObject(ctx context.Context, obj runtime.Object, seen map[string]bool) error {
	ns := c.Namespace
	switch o := obj.(type) {
	case *appsv1.Deployment:
		seen[o.Name] = true
		o.Namespace = ns
		cur, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, o.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			o.Generation = 1
			if o.Spec.Replicas == nil {
				one := int32(1) // the API server's default
				o.Spec.Replicas = &one
			}
			_, err = c.Kube.AppsV1().Deployments(ns).Create(ctx, o, metav1.CreateOptions{})
			return wrap(err, "create deployment", o.Name)
		}
		if err != nil {
			return wrap(err, "get deployment", o.Name)
		}
		if o.Spec.Replicas == nil {
			o.Spec.Replicas = cur.Spec.Replicas // a merge keeps the live count the HPA owns
		}
		o.Generation = cur.Generation + 1
		o.Status = cur.Status
		o.ResourceVersion = cur.ResourceVersion
		_, err = c.Kube.AppsV1().Deployments(ns).Update(ctx, o, metav1.UpdateOptions{})
		return wrap(err, "update deployment", o.Name)
	case *corev1.Service:
		seen[o.Name] = true
		o.Namespace = ns
		_, err := c.Kube.CoreV1().Services(ns).Update(ctx, o, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			_, err = c.Kube.CoreV1().Services(ns).Create(ctx, o, metav1.CreateOptions{})
		}
		return wrap(err, "apply service", o.Name)
	case *autoscalingv2.HorizontalPodAutoscaler:
		seen[o.Name] = true
		o.Namespace = ns
		cur, err := c.Kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, o.Name, metav1.GetOptions{})
		if err == nil {
			o.Status = cur.Status
			_, err = c.Kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Update(ctx, o, metav1.UpdateOptions{})
		} else if apierrors.IsNotFound(err) {
			_, err = c.Kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, o, metav1.CreateOptions{})
		}
		return wrap(err, "apply horizontalpodautoscaler", o.Name)
	}
	return nil // other kinds play no part in a cutover
}

func (c *Cluster) deleteObject(ctx context.Context, kind, name string) error {
	var err error
	switch kind {
	case "Deployment":
		err = c.Kube.AppsV1().Deployments(c.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	case "Service":
		err = c.Kube.CoreV1().Services(c.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	case "HorizontalPodAutoscaler":
		err = c.Kube.AutoscalingV2().HorizontalPodAutoscalers(c.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	return wrap(err, "delete "+strings.ToLower(kind), name)
}

func wrap(err error, what, name string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("fake cluster: %s %s: %w", what, name, err)
}

// Reconcile runs the controllers once: autoscalers size their Deployments,
// Deployments get pods of their template, Services get EndpointSlices. Like the real
// controllers, they write a status or a slice only when it changes: every write through the
// fake clientset's field-managed tracker rebuilds a REST mapper of its whole scheme, and the
// writes that changed nothing were a fifth of the cutover tests' CPU.
func (c *Cluster) Reconcile() error {
	c.controllers.Add(1)
	defer c.controllers.Add(-1)
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx := context.Background()
	ns := c.Namespace
	hpas, err := c.Kube.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return wrap(err, "list", "horizontalpodautoscalers")
	}
	for i := range hpas.Items {
		if err := c.autoscale(ctx, &hpas.Items[i]); err != nil {
			return err
		}
	}
	deps, err := c.Kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return wrap(err, "list", "deployments")
	}
	for i := range deps.Items {
		if err := c.rollout(ctx, &deps.Items[i]); err != nil {
			return err
		}
	}
	svcs, err := c.Kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return wrap(err, "list", "services")
	}
	for i := range svcs.Items {
		if err := c.endpoints(ctx, &svcs.Items[i]); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) autoscale(ctx context.Context, h *autoscalingv2.HorizontalPodAutoscaler) error {
	d, err := c.Kube.AppsV1().Deployments(c.Namespace).Get(ctx, h.Spec.ScaleTargetRef.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return wrap(err, "get deployment", h.Spec.ScaleTargetRef.Name)
	}
	want := c.HPALoad[d.Labels["color"]]
	if h.Spec.MinReplicas != nil && want < *h.Spec.MinReplicas {
		want = *h.Spec.MinReplicas
	}
	if want > h.Spec.MaxReplicas {
		want = h.Spec.MaxReplicas
	}
	if h.Status.CurrentReplicas != want || h.Status.DesiredReplicas != want {
		h.Status.CurrentReplicas, h.Status.DesiredReplicas = want, want
		if _, err := c.Kube.AutoscalingV2().HorizontalPodAutoscalers(c.Namespace).UpdateStatus(ctx, h, metav1.UpdateOptions{}); err != nil {
			return wrap(err, "update status of horizontalpodautoscaler", h.Name)
		}
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != want {
		d.Spec.Replicas = &want
		if _, err := c.Kube.AppsV1().Deployments(c.Namespace).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
			return wrap(err, "scale deployment", d.Name)
		}
	}
	return nil
}

func (c *Cluster) rollout(ctx context.Context, d *appsv1.Deployment) error {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	hash := templateHash(d.Spec.Template)
	sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels)
	pods, err := c.Kube.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return wrap(err, "list pods of", d.Name)
	}
	var current []corev1.Pod
	for _, p := range pods.Items {
		if p.Labels["pod-template-hash"] != hash || int32(len(current)) >= want {
			if err := c.Kube.CoreV1().Pods(c.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
				return wrap(err, "delete pod", p.Name)
			}
			continue
		}
		current = append(current, p)
	}
	ready := !c.NotReady[d.Labels["color"]]
	for i := 0; int32(len(current)) < want; i++ {
		name := fmt.Sprintf("%s-%s-%d", d.Name, hash, i)
		if containsPod(current, name) {
			continue
		}
		c.nextIP++
		p := corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.Namespace, Labels: map[string]string{"pod-template-hash": hash}},
			Spec:       d.Spec.Template.Spec,
			Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.244.%d.%d", c.nextIP/250, c.nextIP%250+1)},
		}
		for k, v := range d.Spec.Template.Labels {
			p.Labels[k] = v
		}
		created, err := c.Kube.CoreV1().Pods(c.Namespace).Create(ctx, &p, metav1.CreateOptions{})
		if err != nil {
			return wrap(err, "create pod", name)
		}
		current = append(current, *created)
	}
	waiting := c.Waiting[d.Labels["color"]]
	if waiting == "" && !c.onNode(ctx, d.Spec.Template.Spec.Containers[0].Image) {
		waiting = "ErrImagePull"
	}
	nReady := int32(0)
	for i := range current {
		p := &current[i]
		was := p.Status.DeepCopy()
		status := corev1.ConditionFalse
		if ready && waiting == "" {
			status = corev1.ConditionTrue
			nReady++
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
		p.Status.ContainerStatuses = nil
		if waiting != "" {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{
				Name:  p.Spec.Containers[0].Name,
				Image: p.Spec.Containers[0].Image,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting, Message: "simulated: " + waiting}},
			}}
		}
		if apiequality.Semantic.DeepEqual(was, &p.Status) {
			continue // the kubelet writes a status only when it changes
		}
		if _, err := c.Kube.CoreV1().Pods(c.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			return wrap(err, "update status of pod", p.Name)
		}
	}
	was := d.Status.DeepCopy()
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation, Replicas: want, UpdatedReplicas: want,
		ReadyReplicas: nReady, AvailableReplicas: nReady, UnavailableReplicas: want - nReady,
	}
	// The conditions the deployment controller sets, which kstatus (the rollout wait) reads.
	available, progressReason := corev1.ConditionFalse, "ReplicaSetUpdated"
	if nReady == want {
		available, progressReason = corev1.ConditionTrue, "NewReplicaSetAvailable"
	}
	d.Status.Conditions = []appsv1.DeploymentCondition{
		{Type: appsv1.DeploymentAvailable, Status: available, Reason: "MinimumReplicasAvailable"},
		{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: progressReason},
	}
	if c.ProgressDeadline[d.Labels["color"]] {
		d.Status.Conditions = []appsv1.DeploymentCondition{{
			Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
			Message: fmt.Sprintf("ReplicaSet %q has timed out progressing.", d.Name+"-"+hash),
		}}
	}
	if apiequality.Semantic.DeepEqual(was, &d.Status) {
		return nil // the deployment controller writes a status only when it changes
	}
	if _, err := c.Kube.AppsV1().Deployments(c.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		return wrap(err, "update status of deployment", d.Name)
	}
	return nil
}

func containsPod(pods []corev1.Pod, name string) bool {
	for _, p := range pods {
		if p.Name == name {
			return true
		}
	}
	return false
}

func templateHash(t corev1.PodTemplateSpec) string {
	h := fnv.New32a()
	_, _ = fmt.Fprintf(h, "%v", t.Spec.Containers) // a hash never fails to write
	return fmt.Sprintf("%08x", h.Sum32())[:8]
}

func (c *Cluster) endpoints(ctx context.Context, s *corev1.Service) error {
	sel := labels.SelectorFromSet(s.Spec.Selector)
	pods, err := c.Kube.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return wrap(err, "list pods of service", s.Name)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: s.Name + "-sim", Namespace: c.Namespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: s.Name},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, p := range pods.Items {
		ready := false
		for _, cond := range p.Status.Conditions {
			ready = ready || (cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue)
		}
		r := ready
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{p.Status.PodIP}, Conditions: discoveryv1.EndpointConditions{Ready: &r}})
	}
	slices := c.Kube.DiscoveryV1().EndpointSlices(c.Namespace)
	cur, err := slices.Get(ctx, slice.Name, metav1.GetOptions{})
	if err == nil && apiequality.Semantic.DeepEqual(cur.Labels, slice.Labels) && cur.AddressType == slice.AddressType &&
		apiequality.Semantic.DeepEqual(cur.Endpoints, slice.Endpoints) {
		return nil // the endpointslice controller writes a slice only when it changes
	}
	if _, err := slices.Update(ctx, slice, metav1.UpdateOptions{}); apierrors.IsNotFound(err) {
		_, err = slices.Create(ctx, slice, metav1.CreateOptions{})
		return wrap(err, "create endpointslice of", s.Name)
	} else if err != nil {
		return wrap(err, "update endpointslice of", s.Name)
	}
	return nil
}

// Install installs a chart directory as a release, as `helm install` would.
func (c *Cluster) Install(releaseName, chartDir string, vals map[string]any) error {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return fmt.Errorf("load chart %s: %w", chartDir, err)
	}
	in := action.NewInstall(c.Helm)
	in.ReleaseName, in.Namespace = releaseName, c.Namespace
	if c.ReleaseNamespace != "" {
		in.Namespace = c.ReleaseNamespace
	}
	rel, err := in.Run(ch, vals)
	if err != nil {
		return fmt.Errorf("install %s: %w", releaseName, err)
	}
	// Install creates nothing when Build returns no resources, as this fake's does.
	return c.Apply(rel.Manifest)
}
