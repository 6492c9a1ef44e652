//go:build apiserver

package kubeapply_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/kubeapply"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/testenv"
)

// On a real API server: a CRD applied and waited for makes its kind appliable at once (the
// discovery cache is refreshed), a second apply updates the same objects in place, another
// manager's change to an owned field is taken back, and Delete tolerates objects and kinds
// already gone.
func TestApplyOnARealAPIServer(t *testing.T) {
	api := testenv.StartKubeAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	k, err := kubeapply.New(api.Config, "kubeapply-test")
	if err != nil {
		t.Fatal(err)
	}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets.example.com"},
		"spec": map[string]any{
			"group": "example.com", "scope": "Namespaced",
			"names": map[string]any{"plural": "widgets", "singular": "widget", "kind": "Widget"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
	widget := func(size int64) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "example.com/v1", "kind": "Widget",
			"metadata": map[string]any{"name": "w", "namespace": "default"}, "spec": map[string]any{"size": size},
		}}
	}
	cm := func(v string) *corev1.ConfigMap {
		return &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}, Data: map[string]string{"k": v}}
	}

	// The mapper learns the cluster's kinds before the CRD exists, as in a real install.
	if err := k.Apply(ctx, cm("1")); err != nil {
		t.Fatal(err)
	}
	if err := k.Apply(ctx, crd); err != nil {
		t.Fatal(err)
	}
	if err := k.WaitEstablished(ctx, []*unstructured.Unstructured{crd}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := k.Apply(ctx, widget(1)); err != nil {
		t.Fatalf("apply a Widget right after its CRD is established: %v", err)
	}
	first, err := k.CS.CoreV1().ConfigMaps("default").Get(ctx, "c", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Another manager changes an owned field; the next apply takes it back, in place.
	first.Data["k"] = "edited"
	if _, err := k.CS.CoreV1().ConfigMaps("default").Update(ctx, first, metav1.UpdateOptions{FieldManager: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	if err := k.Apply(ctx, cm("2"), widget(2)); err != nil {
		t.Fatalf("apply again: %v", err)
	}
	again, err := k.CS.CoreV1().ConfigMaps("default").Get(ctx, "c", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.UID != first.UID || again.Data["k"] != "2" {
		t.Errorf("second apply: uid %s (was %s), data %v; want the same object with k=2", again.UID, first.UID, again.Data)
	}
	widgets := k.Dyn.Resource(schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}).Namespace("default")
	w, err := widgets.Get(ctx, "w", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if size, _, _ := unstructured.NestedInt64(w.Object, "spec", "size"); size != 2 {
		t.Errorf("widget size %d after the second apply, want 2", size)
	}

	// Delete: the objects go; deleting again, or a Widget once its CRD is gone, is no error.
	if err := k.Delete(ctx, widget(2), cm("2")); err != nil {
		t.Fatal(err)
	}
	if _, err := k.CS.CoreV1().ConfigMaps("default").Get(ctx, "c", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ConfigMap after Delete: %v, want not found", err)
	}
	if err := k.Delete(ctx, cm("2")); err != nil {
		t.Errorf("deleting what is gone: %v", err)
	}
	if err := k.Delete(ctx, crd); err != nil {
		t.Fatal(err)
	}
	crds := k.Dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := crds.Get(ctx, "widgets.example.com", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatalf("the CRD never went: %v", err)
	}
	fresh, err := kubeapply.New(api.Config, "kubeapply-test") // discovery read after the CRD went
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.Delete(ctx, widget(2)); err != nil {
		t.Errorf("deleting a Widget whose kind is gone: %v", err)
	}
}

// CreateOrUpdate twice over a NodePort Service: the second run updates it in place (a create
// first would fail on the node port it already holds).
func TestCreateOrUpdateANodePortServiceTwice(t *testing.T) {
	api := testenv.StartKubeAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k, err := kubeapply.New(api.Config, "kubeapply-test")
	if err != nil {
		t.Fatal(err)
	}
	svc := func(label string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default", Labels: map[string]string{"run": label}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "x"},
				Ports: []corev1.ServicePort{{Port: 80, NodePort: 30097}}}}
	}
	for _, run := range []string{"first", "second"} {
		if err := kubeapply.CreateOrUpdate(ctx, k.CS.CoreV1().Services("default"), svc(run), "kubeapply-test"); err != nil {
			t.Fatalf("%s run: %v", run, err)
		}
	}
	got, err := k.CS.CoreV1().Services("default").Get(ctx, "s", metav1.GetOptions{})
	if err != nil || got.Labels["run"] != "second" || got.Spec.Ports[0].NodePort != 30097 {
		t.Errorf("after two runs: %v, err %v; want the second run's labels on node port 30097", got.Labels, err)
	}
}
