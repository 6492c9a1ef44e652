package gate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/retry"
)

// Logf prints one progress line.
type Logf func(format string, args ...any)

// Poll calls try every interval until it reports done, returns an error, or ctx
// ends; then the error says what it was last waiting for. Never a bare sleep: the
// wait is bounded by ctx.
func Poll(ctx context.Context, interval time.Duration, try func(context.Context) (done bool, waiting string, err error)) error {
	start := time.Now()
	waiting := ""
	var tryErr error
	err := retry.Poll(ctx, interval, func(ctx context.Context) (bool, error) {
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
	if d.Status.ObservedGeneration < d.Generation {
		return false, "the controller to observe the new spec", nil, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return false, "", nil, fmt.Errorf("deployment %s: %s: %s", name, c.Reason, c.Message)
		}
	}
	if got := containerImage(d.Spec.Template.Spec); image != "" && got != image {
		return false, fmt.Sprintf("image %s (the deployment has %s)", image, got), nil, nil
	}
	if d.Spec.Replicas != nil && *d.Spec.Replicas < want {
		return false, fmt.Sprintf("spec.replicas to reach %d (it is %d)", want, *d.Spec.Replicas), nil, nil
	}
	st := d.Status
	if st.UpdatedReplicas < want || st.ReadyReplicas < want || st.AvailableReplicas < want {
		if err := r.stuck(ctx, d); err != nil {
			return false, "", nil, err
		}
		return false, fmt.Sprintf("%d/%d updated, %d ready, %d available", st.UpdatedReplicas, want, st.ReadyReplicas, st.AvailableReplicas), nil, nil
	}
	if st.Replicas > st.UpdatedReplicas {
		return false, fmt.Sprintf("%d old replicas to terminate", st.Replicas-st.UpdatedReplicas), nil, nil
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

// ContainerImage is containerImage for callers outside the package.
func ContainerImage(spec corev1.PodSpec) string { return containerImage(spec) }

// IsTimeout reports whether err is a bounded wait that ran out (not a cancel).
func IsTimeout(err error) bool { return errors.Is(err, context.DeadlineExceeded) }
