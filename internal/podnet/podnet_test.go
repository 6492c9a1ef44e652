package podnet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func node(name, cidr, ip string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: cidr}}
	if ip != "" {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}
	}
	return n
}

func TestDesired(t *testing.T) {
	t.Parallel()
	nodes := []corev1.Node{
		*node("w2", "10.244.2.0/24", "172.18.0.4"),
		*node("cp", "10.244.0.0/24", "172.18.0.2"),
		*node("w1", "10.244.1.0/24", "172.18.0.3"),
		*node("new", "", "172.18.0.5"),     // no podCIDR yet: no route
		*node("noip", "10.244.9.0/24", ""), // no address yet: no route
	}
	conf, routes, err := Desired("w1", nodes)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(conf, `"subnet": "10.244.1.0/24"`) {
		t.Errorf("conf is not for w1's podCIDR:\n%s", conf)
	}
	var got []string
	for _, r := range routes {
		got = append(got, r.String())
	}
	want := []string{"10.244.0.0/24 via 172.18.0.2 (cp)", "10.244.2.0/24 via 172.18.0.4 (w2)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routes mismatch (-want +got):\n%s", diff)
	}
	if _, _, err := Desired("new", nodes); err == nil {
		t.Error("Desired for a node without podCIDR succeeded")
	}
	if _, _, err := Desired("gone", nodes); err == nil {
		t.Error("Desired for a missing node succeeded")
	}
}

type fakeRoutes struct{ replaced, deleted []string }

func (f *fakeRoutes) Replace(r Route) error { f.replaced = append(f.replaced, r.String()); return nil }
func (f *fakeRoutes) Delete(r Route) error  { f.deleted = append(f.deleted, r.String()); return nil }

func TestReconcile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cs := fake.NewSimpleClientset(node("cp", "10.244.0.0/24", "172.18.0.2"), node("w1", "10.244.1.0/24", "172.18.0.3"))
	routes := &fakeRoutes{}
	dir := t.TempDir()
	a := &Agent{Client: cs, NodeName: "cp", ConfDir: dir, Routes: routes}

	if err := a.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join(dir, ConfName))
	if err != nil {
		t.Fatalf("CNI config not written: %v", err)
	}
	if !strings.Contains(string(conf), "10.244.0.0/24") {
		t.Errorf("CNI config is not for cp's podCIDR:\n%s", conf)
	}
	if diff := cmp.Diff([]string{"10.244.1.0/24 via 172.18.0.3 (w1)"}, routes.replaced); diff != "" {
		t.Errorf("first reconcile routes (-want +got):\n%s", diff)
	}

	// Unchanged state: no route is touched again.
	if err := a.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if len(routes.replaced) != 1 {
		t.Errorf("second reconcile replaced routes again: %v", routes.replaced)
	}

	// A node leaves: its route goes.
	if err := cs.CoreV1().Nodes().Delete(ctx, "w1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := a.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"10.244.1.0/24 via 172.18.0.3 (w1)"}, routes.deleted); diff != "" {
		t.Errorf("routes deleted after node left (-want +got):\n%s", diff)
	}
}

func TestManifestNamesImage(t *testing.T) {
	t.Parallel()
	m := Manifest("ai-assistant-podnet:abc")
	for _, want := range []string{"would you kindly patch this file", "image: ai-assistant-podnet:abc", "hostNetwork: true", "operator: Exists", "name: NODE_NAME"} {
		if !strings.Contains(m, want) {
			t.Errorf("manifest lacks %q", want)
		}
	}
}

func TestBridgeConflist(t *testing.T) {
	t.Parallel()
	c := BridgeConflist("10.244.1.0/24")
	for _, want := range []string{`"subnet": "10.244.1.0/24"`, `"type": "bridge"`, `"type": "portmap"`} {
		if !strings.Contains(c, want) {
			t.Errorf("conflist lacks %s:\n%s", want, c)
		}
	}
}
