package gate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Logf prints one progress line.
type Logf func(format string, args ...any)

// Poll calls try at once and then every interval until it reports done, returns an
// error, or ctx ends; then the error says what it was last waiting for. The loop is
// wait.PollUntilContextCancel, which looks at ctx before each try after the first, so
// a cancelled gate cannot pass on one more try; wait ends on a bare ctx.Err(), and
// the "waiting for" text is what this adds.
func Poll(ctx context.Context, interval time.Duration, try func(context.Context) (done bool, waiting string, err error)) error {
	start := time.Now()
	waiting := ""
	var tryErr error
	err := wait.PollUntilContextCancel(ctx, interval, true, func(ctx context.Context) (bool, error) {
		done, w, err := try(ctx)
		if w != "" {
			waiting = w
		}
		tryErr = err
		return done, err
	})
	// A try cut short by the deadline (a GET in flight, the client's rate limiter) is the
	// timeout too: say what it was waiting for, not only which call the deadline hit.
	if err != nil && (tryErr == nil || ctx.Err() != nil) {
		return fmt.Errorf("gave up after %s waiting for %s: %w", time.Since(start).Round(time.Second), waiting, err)
	}
	return err
}

// Rollout waits for a colour's Deployment to run exactly its desired replicas, all
// updated, Ready and available, with the expected image.
type Rollout struct {
	Kube      kubernetes.Interface
	Namespace string
	Interval  time.Duration
	Log       Logf
}

// Wait returns the Ready pods once deployment runs want Ready replicas of image.
func (r Rollout) Wait(ctx context.Context, deployment string, want int32, image string) ([]corev1.Pod, error) {
	start := time.Now()
	last := ""
	var pods []corev1.Pod
	err := Poll(ctx, r.Interval, func(ctx context.Context) (bool, string, error) {
		done, waiting, ready, err := r.check(ctx, deployment, want, image)
		if err != nil {
			return false, "", err
		}
		if waiting != last {
			r.Log("  %s: %s (%s)", deployment, waiting, time.Since(start).Round(time.Second))
			last = waiting
		}
		pods = ready
		return done, waiting, nil
	})
	if err != nil {
		return nil, fmt.Errorf("wait for deployment %s: %w", deployment, err)
	}
	return pods, nil
}

func (r Rollout) check(ctx context.Context, name string, want int32, image string) (bool, string, []corev1.Pod, error) {
	d, err := r.Kube.AppsV1().Deployments(r.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, "deployment to exist", nil, nil
	}
	if err != nil {
		return false, "", nil, fmt.Errorf("get deployment %s: %w", name, err)
	}
	if got := containerImage(d.Spec.Template.Spec); image != "" && got != image {
		return false, fmt.Sprintf("image %s (the deployment has %s)", image, got), nil, nil
	}
	if d.Spec.Replicas != nil && *d.Spec.Replicas < want {
		return false, fmt.Sprintf("spec.replicas to reach %d (it is %d)", want, *d.Spec.Replicas), nil, nil
	}
	// kstatus judges the Deployment as `kubectl rollout status` and Helm 4's waiter do: the
	// controller saw the spec, every replica is updated, available and Ready, no old one is
	// left, and a passed progress deadline is a failure. It does not look at the pods, so a
	// pod that waits for a reason it will not get past is found by stuck.
	res, err := rolloutStatus(d)
	if err != nil {
		return false, "", nil, fmt.Errorf("deployment %s: %w", name, err)
	}
	switch res.Status {
	case status.CurrentStatus:
	case status.FailedStatus:
		reason := res.Message
		for _, c := range res.Conditions {
			if c.Reason != "" {
				reason = c.Reason + ": " + c.Message
			}
		}
		return false, "", nil, fmt.Errorf("deployment %s: %s", name, reason)
	default:
		if err := r.stuck(ctx, d); err != nil {
			return false, "", nil, err
		}
		return false, fmt.Sprintf("%s (%d/%d ready)", res.Message, d.Status.ReadyReplicas, want), nil, nil
	}
	pods, err := PodsOf(ctx, r.Kube, d)
	if err != nil {
		return false, "", nil, err
	}
	var ready []corev1.Pod
	for _, p := range pods {
		if PodReady(p) && containerImage(p.Spec) == containerImage(d.Spec.Template.Spec) {
			ready = append(ready, p)
		}
	}
	if int32(len(ready)) < want {
		return false, fmt.Sprintf("%d/%d pods Ready with the new image", len(ready), want), nil, nil
	}
	return true, fmt.Sprintf("%d/%d ready", len(ready), want), ready, nil
}

// rolloutStatus is kstatus's verdict on d, which it reads as unstructured.
func rolloutStatus(d *appsv1.Deployment) (*status.Result, error) {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("Deployment")) // a typed Get leaves it empty
	return status.Compute(u)
}

// stuckReasons are the waiting reasons a rollout does not get past by waiting: the image
// cannot be pulled, the container keeps crashing, or its config (a missing ConfigMap or
// Secret key) is wrong. Waiting on only burns the rollout timeout.
var stuckReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"CrashLoopBackOff": true, "CreateContainerConfigError": true, "CreateContainerError": true,
}

// stuck returns an error naming the first pod of d (with d's pod template) whose container
// waits for a reason it will not get past, with the reason, the image and the kubelet's message.
func (r Rollout) stuck(ctx context.Context, d *appsv1.Deployment) error {
	pods, err := PodsOf(ctx, r.Kube, d)
	if err != nil {
		return err
	}
	want := containerImage(d.Spec.Template.Spec)
	for _, p := range pods {
		if containerImage(p.Spec) != want {
			continue // an old pod of a rolling update
		}
		for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			if w := cs.State.Waiting; w != nil && stuckReasons[w.Reason] {
				return fmt.Errorf("pod %s: container %s is %s (image %s): %s", p.Name, cs.Name, w.Reason, cs.Image, w.Message)
			}
		}
	}
	return nil
}

// Unready says why a Deployment's pods are not Ready, after a rollout wait gave up: for each
// live pod that is not Ready, its readiness endpoint's answer (the server names the failing
// check there) or, when that cannot be reached, the container's waiting reason. Best effort:
// an empty string when nothing more is known.
func (r Rollout) Unready(ctx context.Context, deployment string, p Prober, port, path string) string {
	d, err := r.Kube.AppsV1().Deployments(r.Namespace).Get(ctx, deployment, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	pods, err := PodsOf(ctx, r.Kube, d)
	if err != nil {
		return ""
	}
	var why []string
	for _, pod := range pods {
		if PodReady(pod) {
			continue
		}
		if resp, err := p.Pod(ctx, r.Namespace, pod.Name, port, path); err == nil {
			why = append(why, fmt.Sprintf("pod %s GET %s: %d %s", pod.Name, path, resp.Status, snippet(resp.Body)))
			continue
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil {
				why = append(why, fmt.Sprintf("pod %s container %s: %s %s", pod.Name, cs.Name, w.Reason, w.Message))
			}
		}
	}
	sort.Strings(why)
	if len(why) > 3 {
		why = append(why[:3], fmt.Sprintf("and %d more", len(why)-3))
	}
	return strings.Join(why, "; ")
}

// PodsOf lists the live (not terminating) pods a Deployment's selector matches, by name.
func PodsOf(ctx context.Context, kube kubernetes.Interface, d *appsv1.Deployment) ([]corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("read selector of deployment %s: %w", d.Name, err)
	}
	return podsMatching(ctx, kube, d.Namespace, sel)
}

func podsMatching(ctx context.Context, kube kubernetes.Interface, ns string, sel labels.Selector) ([]corev1.Pod, error) {
	list, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list pods %s: %w", sel, err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PodReady reports the pod's Ready condition.
func PodReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// containerImage is the image of the "api" container, or of the first one.
func containerImage(spec corev1.PodSpec) string {
	for _, c := range spec.Containers {
		if c.Name == "api" {
			return c.Image
		}
	}
	if len(spec.Containers) > 0 {
		return spec.Containers[0].Image
	}
	return ""
}

// NormalisedImage is ref as a container runtime reports it in node.status.images:
// ai-assistant:1.0.0 is docker.io/library/ai-assistant:1.0.0. A reference that does not
// parse is left as written, to match only itself.
func NormalisedImage(ref string) string {
	if n, err := reference.ParseNormalizedNamed(ref); err == nil {
		return n.String()
	}
	return ref
}

// NodeHasImage reports whether node n's kubelet lists image among the images it holds.
func NodeHasImage(n *corev1.Node, image string) bool {
	want := NormalisedImage(image)
	for _, img := range n.Status.Images {
		for _, name := range img.Names {
			if NormalisedImage(name) == want {
				return true
			}
		}
	}
	return false
}

// ContainerImage is containerImage for callers outside the package.
func ContainerImage(spec corev1.PodSpec) string { return containerImage(spec) }

// IsTimeout reports whether err is a bounded wait that ran out (not a cancel).
func IsTimeout(err error) bool { return errors.Is(err, context.DeadlineExceeded) }
