package kubeapply

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

func TestReadCRDsRefusesOtherKinds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	crd := "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n"
	write(t, filepath.Join(dir, "b.yaml"), "---\n"+crd+"---\n\n")
	write(t, filepath.Join(dir, "a.yaml"), strings.Replace(crd, "widgets", "gadgets", 1))
	crds, err := ReadCRDs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) != 2 || crds[0].GetName() != "gadgets.example.com" || crds[1].GetName() != "widgets.example.com" {
		t.Fatalf("read %d CRDs, want gadgets then widgets (file order, empty documents skipped): %v", len(crds), crds)
	}
	write(t, filepath.Join(dir, "c.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
	if _, err := ReadCRDs(dir); err == nil || !strings.Contains(err.Error(), "not a CustomResourceDefinition") {
		t.Errorf("a ConfigMap among the CRDs: err %v, want refused", err)
	}
	if _, err := ReadCRDs(t.TempDir()); err == nil {
		t.Error("an empty directory gave no error")
	}
}

// A built-in kind needs no TypeMeta: the scheme names it. A kind it does not know is
// refused here rather than by the API server, less clearly, later.
func TestToUnstructuredFindsTheKind(t *testing.T) {
	t.Parallel()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
	u, err := ToUnstructured(d)
	if err != nil || u.GetAPIVersion() != "apps/v1" || u.GetKind() != "Deployment" {
		t.Errorf("a Deployment without TypeMeta: %s %s, err %v; want apps/v1 Deployment", u.GetAPIVersion(), u.GetKind(), err)
	}
	if _, err := ToUnstructured(&unregistered{ObjectMeta: metav1.ObjectMeta{Name: "x"}}); err == nil {
		t.Error("a kind the scheme does not register converted without apiVersion and kind")
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
	u, err = ToUnstructured(cm)
	if err != nil {
		t.Fatal(err)
	}
	if _, found := u.Object["metadata"].(map[string]any)["creationTimestamp"]; found {
		t.Error("creationTimestamp: null kept: apply would own it")
	}
}

func TestDeploymentAvailable(t *testing.T) {
	t.Parallel()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)}}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}
	if ok, state := DeploymentAvailable(d); !ok {
		t.Errorf("rolled out and available: %s", state)
	}
	for name, mutate := range map[string]func(*appsv1.Deployment){
		"generation not observed": func(d *appsv1.Deployment) { d.Status.ObservedGeneration = 1 },
		"one unavailable":         func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1 },
		"an old pod left":         func(d *appsv1.Deployment) { d.Status.Replicas = 3 },
		"one not updated":         func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 },
	} {
		c := d.DeepCopy()
		mutate(c)
		if ok, state := DeploymentAvailable(c); ok {
			t.Errorf("%s: reported available (%s)", name, state)
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// unregistered is a kind no scheme knows.
type unregistered struct {
	metav1.TypeMeta
	metav1.ObjectMeta
}

func (u *unregistered) DeepCopyObject() runtime.Object { c := *u; return &c }
