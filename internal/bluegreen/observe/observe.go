// Package observe reads where a release stands in the cluster: both colours' Deployments,
// autoscalers and pods, and the colour each Service selects, beside what the values ask for.
// The operations derive every step from the State it returns.
package observe

import (
	"context"
	"fmt"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/gate"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/release"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// ColorState is one colour as its values ask for it and as the cluster runs it.
type ColorState struct {
	Color       values.Color `json:"color"`
	Role        string       `json:"role"` // active or idle
	Image       string       `json:"image"`
	Replicas    *int         `json:"replicas"` // the values' replicas; null follows replicaCount / autoscaling
	ScaleDownAt *time.Time   `json:"scaleDownAt,omitempty"`

	Deployment string     `json:"deployment"`
	Exists     bool       `json:"exists"`
	LiveImage  string     `json:"liveImage,omitempty"`
	Desired    int32      `json:"desired"`
	Current    int32      `json:"current"`
	Updated    int32      `json:"updated"`
	Ready      int32      `json:"ready"`
	Available  int32      `json:"available"`
	HPA        *HPAState  `json:"hpa,omitempty"`
	Pods       []PodState `json:"pods,omitempty"`
	// LivePods are the pods as read, for the checks that need their spec.
	LivePods []corev1.Pod `json:"-"`
}

// HPAState is a colour's autoscaler.
type HPAState struct {
	Name    string `json:"name"`
	Min     int32  `json:"min"`
	Max     int32  `json:"max"`
	Current int32  `json:"current"`
	Desired int32  `json:"desired"`
}

// PodState is one pod of a colour.
type PodState struct {
	Name  string `json:"name"`
	IP    string `json:"ip"`
	Ready bool   `json:"ready"`
	Image string `json:"image"`
}

// ServiceState is a Service and the colour its selector picks.
type ServiceState struct {
	Name   string `json:"name"`
	Exists bool   `json:"exists"`
	Color  string `json:"color"`
}

// State is everything the steps derive where they are from.
type State struct {
	// Snapshot is the values the live objects were read against.
	Snapshot *release.Snapshot `json:"-"`
	// Namespace is where the chart's objects live (namespaceOverride, or the release's).
	Namespace string                       `json:"namespace"`
	Active    values.Color                 `json:"activeColor"`
	Idle      values.Color                 `json:"idleColor"`
	Colors    map[values.Color]*ColorState `json:"colors"`
	Service   ServiceState                 `json:"service"`
	Preview   ServiceState                 `json:"previewService"`

	helm bool // the values are a Helm release's last deployed revision
}

// Cluster reads the live objects of both colours and both Services that snap's values name,
// in snap's namespace or else namespace (the release's). helm says snap is a Helm release's
// last deployed revision, whose objects follow it at once (see Split).
func Cluster(ctx context.Context, kube kubernetes.Interface, snap *release.Snapshot, namespace string, helm bool) (*State, error) {
	v := snap.Values
	ns := snap.Namespace
	if ns == "" {
		ns = namespace
	}
	st := &State{Snapshot: snap, Namespace: ns, Active: v.Active, Idle: v.Active.Other(), Colors: map[values.Color]*ColorState{}, helm: helm}
	for _, col := range []values.Color{values.Blue, values.Green} {
		cs, err := observeColor(ctx, kube, snap, ns, col)
		if err != nil {
			return nil, err
		}
		cs.Role = "idle"
		if col == v.Active {
			cs.Role = "active"
		}
		st.Colors[col] = cs
	}
	var err error
	if st.Service, err = observeService(ctx, kube, ns, snap.Fullname); err != nil {
		return nil, err
	}
	if st.Preview, err = observeService(ctx, kube, ns, snap.Fullname+"-preview"); err != nil {
		return nil, err
	}
	return st, nil
}

func observeColor(ctx context.Context, kube kubernetes.Interface, snap *release.Snapshot, ns string, col values.Color) (*ColorState, error) {
	cv := snap.Values.Colors[col]
	cs := &ColorState{
		Color:       col,
		Image:       snap.Values.Image(col),
		Replicas:    cv.Replicas,
		ScaleDownAt: cv.ScaleDownAt,
		Deployment:  snap.Fullname + "-" + string(col),
	}
	d, err := kube.AppsV1().Deployments(ns).Get(ctx, cs.Deployment, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return cs, nil
	case err != nil:
		return nil, fmt.Errorf("get deployment %s: %w", cs.Deployment, err)
	}
	cs.Exists = true
	cs.LiveImage = gate.ContainerImage(d.Spec.Template.Spec)
	if d.Spec.Replicas != nil {
		cs.Desired = *d.Spec.Replicas
	}
	cs.Current, cs.Updated, cs.Ready, cs.Available = d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas
	if cs.HPA, err = observeHPA(ctx, kube, ns, cs.Deployment); err != nil {
		return nil, err
	}
	if cs.HPA != nil && cs.HPA.Desired > 0 {
		cs.Desired = cs.HPA.Desired
	}
	if cs.LivePods, err = gate.PodsOf(ctx, kube, d); err != nil {
		return nil, err
	}
	for _, p := range cs.LivePods {
		cs.Pods = append(cs.Pods, PodState{Name: p.Name, IP: p.Status.PodIP, Ready: gate.PodReady(p), Image: gate.ContainerImage(p.Spec)})
	}
	return cs, nil
}

func observeHPA(ctx context.Context, kube kubernetes.Interface, ns, name string) (*HPAState, error) {
	h, err := kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get horizontalpodautoscaler %s: %w", name, err)
	}
	return hpaState(h), nil
}

func hpaState(h *autoscalingv2.HorizontalPodAutoscaler) *HPAState {
	s := &HPAState{Name: h.Name, Max: h.Spec.MaxReplicas, Current: h.Status.CurrentReplicas, Desired: h.Status.DesiredReplicas}
	if h.Spec.MinReplicas != nil {
		s.Min = *h.Spec.MinReplicas
	}
	return s
}

func observeService(ctx context.Context, kube kubernetes.Interface, ns, name string) (ServiceState, error) {
	s, err := kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ServiceState{Name: name}, nil
	}
	if err != nil {
		return ServiceState{}, fmt.Errorf("get service %s: %w", name, err)
	}
	return ServiceState{Name: name, Exists: true, Color: s.Spec.Selector["color"]}, nil
}

// Split reports whether a Helm release's Service selects the colour its values do not name:
// an upgrade that patched the Service and then failed on another object. Traffic then runs
// on the idle colour, whatever the values say. (Under GitOps the values lead the live objects
// until the sync, which the waits already follow.)
func (st *State) Split() bool {
	return st.helm && st.Service.Exists && st.Service.Color == string(st.Idle)
}

// Converged reports what still differs between the values and the live objects,
// or "" when the cluster shows what the values ask for.
func (st *State) Converged() string {
	v := st.Snapshot.Values
	if st.Service.Color != string(v.Active) {
		return fmt.Sprintf("service %s to select %s (it selects %q)", st.Service.Name, v.Active, st.Service.Color)
	}
	if st.Preview.Exists && st.Preview.Color != string(v.Active.Other()) {
		return fmt.Sprintf("service %s to select %s (it selects %q)", st.Preview.Name, v.Active.Other(), st.Preview.Color)
	}
	for _, col := range []values.Color{values.Blue, values.Green} {
		cs := st.Colors[col]
		if !cs.Exists {
			return fmt.Sprintf("deployment %s to exist", cs.Deployment)
		}
		if v.ScaledToZero(col) {
			if cs.HPA != nil || cs.Desired != 0 {
				return fmt.Sprintf("deployment %s to be scaled to zero", cs.Deployment)
			}
			continue
		}
		if cs.LiveImage != cs.Image {
			return fmt.Sprintf("deployment %s to run %s (it runs %s)", cs.Deployment, cs.Image, cs.LiveImage)
		}
		if r := v.Colors[col].Replicas; r != nil {
			if v.Autoscaling && (cs.HPA == nil || cs.HPA.Min != int32(*r)) {
				return fmt.Sprintf("autoscaler %s to have minReplicas %d", cs.Deployment, *r)
			}
			if !v.Autoscaling && cs.Desired != int32(*r) {
				return fmt.Sprintf("deployment %s to have %d replicas (it has %d)", cs.Deployment, *r, cs.Desired)
			}
		}
	}
	return ""
}
