package kindnode

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStagingModules(t *testing.T) {
	t.Parallel()
	mod := []byte(`module k8s.io/kubernetes

require (
	k8s.io/api v0.0.0
	github.com/x/y v1.0.0
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	github.com/x/y => github.com/x/y v1.0.1
)
`)
	got := StagingModules(mod)
	if diff := cmp.Diff([]string{"k8s.io/api", "k8s.io/client-go"}, got); diff != "" {
		t.Errorf("StagingModules() mismatch (-want +got):\n%s", diff)
	}
}

func TestStagingVersion(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{{"v1.37.2", "v0.37.2"}, {"v1.34.4", "v0.34.4"}, {"1.37.2", ""}, {"v2.0.0", ""}}
	for _, tc := range tests {
		got, err := StagingVersion(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("StagingVersion(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("StagingVersion(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestScratchGoMod(t *testing.T) {
	t.Parallel()
	got := ScratchGoMod("kindnode.local/k", "1.26.8", "k8s.io/kubernetes", "v1.37.2",
		map[string]string{"k8s.io/client-go": "k8s.io/client-go v0.37.2", "k8s.io/api": "k8s.io/api v0.37.2"})
	want := "module kindnode.local/k\n\ngo 1.26.8\n\nrequire k8s.io/kubernetes v1.37.2\n\nreplace (\n" +
		"\tk8s.io/api => k8s.io/api v0.37.2\n\tk8s.io/client-go => k8s.io/client-go v0.37.2\n)\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ScratchGoMod() mismatch (-want +got):\n%s", diff)
	}
}

func TestParseImageList(t *testing.T) {
	t.Parallel()
	out := `W1125 04:00:00.000000 1 version.go:1] could not fetch a Kubernetes version from the internet
registry.k8s.io/kube-apiserver:v1.37.2
registry.k8s.io/kube-controller-manager:v1.37.2
registry.k8s.io/kube-scheduler:v1.37.2
registry.k8s.io/kube-proxy:v1.37.2
registry.k8s.io/coredns/coredns:v1.14.6
registry.k8s.io/pause:3.10.1
registry.k8s.io/etcd:3.7.0-0
`
	got, err := ParseImageList(out)
	if err != nil {
		t.Fatal(err)
	}
	want := ImageSet{
		APIServer: "registry.k8s.io/kube-apiserver:v1.37.2", ControllerManager: "registry.k8s.io/kube-controller-manager:v1.37.2",
		Scheduler: "registry.k8s.io/kube-scheduler:v1.37.2", Proxy: "registry.k8s.io/kube-proxy:v1.37.2",
		Etcd: "registry.k8s.io/etcd:3.7.0-0", CoreDNS: "registry.k8s.io/coredns/coredns:v1.14.6", Pause: "registry.k8s.io/pause:3.10.1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseImageList() mismatch (-want +got):\n%s", diff)
	}
	if _, err := ParseImageList("registry.k8s.io/kube-apiserver:v1.37.2\n"); err == nil {
		t.Error("a list without etcd parsed without error")
	}
	if v, err := EtcdModuleVersion(got.Etcd); err != nil || v != "v3.7.0" {
		t.Errorf("EtcdModuleVersion() = %q, %v; want v3.7.0", v, err)
	}
	if v, err := CoreDNSModuleVersion(got.CoreDNS); err != nil || v != "v1.14.6" {
		t.Errorf("CoreDNSModuleVersion() = %q, %v; want v1.14.6", v, err)
	}
	if _, err := EtcdModuleVersion("registry.k8s.io/etcd:latest"); err == nil {
		t.Error("EtcdModuleVersion accepted a tag with no version")
	}
}

func TestSandboxImage(t *testing.T) {
	t.Parallel()
	toml := "[plugins.\"io.containerd.grpc.v1.cri\"]\n  # use fixed sandbox image\n  sandbox_image = \"registry.k8s.io/pause:3.10\"\n"
	if got := SandboxImage(toml); got != "registry.k8s.io/pause:3.10" {
		t.Errorf("SandboxImage() = %q", got)
	}
	set := ImageSet{Pause: "p:1", Sandbox: "p:1", Etcd: "e:1"}
	if got := set.All(); len(got) != 2 {
		t.Errorf("All() = %v, want the sandbox image once", got)
	}
}
