package cluster

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

func TestParseCapBnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     string
		want       uint64
		lacksSysRe bool
		wantErr    bool
	}{
		{"this VM: bit 24 missing", "Name:\tx\nCapBnd:\t000001fffeffffff\n", 0x1fffeffffff, true, false},
		{"full set", "CapBnd:\t000001ffffffffff\n", 0x1ffffffffff, false, false},
		{"no line", "Name:\tx\n", 0, false, true},
		{"garbage", "CapBnd:\tzz\n", 0, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseCapBnd(strings.NewReader(tc.status))
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseCapBnd() error = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("ParseCapBnd() = %x, want %x", got, tc.want)
			}
			if !tc.wantErr && (got&(1<<capSysResource) == 0) != tc.lacksSysRe {
				t.Errorf("lacks CAP_SYS_RESOURCE = %v, want %v", !tc.lacksSysRe, tc.lacksSysRe)
			}
		})
	}
}

func TestKindConfig(t *testing.T) {
	t.Parallel()
	cfg := KindConfig("c", "img:1", 2, DefaultPortMappings(), true)
	if len(cfg.Nodes) != 3 || cfg.Nodes[0].Role != v1alpha4.ControlPlaneRole || cfg.Nodes[1].Role != v1alpha4.WorkerRole {
		t.Fatalf("nodes = %+v, want one control plane then two workers", cfg.Nodes)
	}
	pm := cfg.Nodes[0].ExtraPortMappings
	if len(pm) != 20 || pm[0].ContainerPort != 30080 || pm[0].HostPort != 30080 || pm[0].ListenAddress != "127.0.0.1" || pm[19].HostPort != 30099 {
		t.Errorf("port mappings = %+v, want 30080-30099 on 127.0.0.1", pm)
	}
	if len(cfg.Nodes[1].ExtraPortMappings) != 0 {
		t.Error("a worker maps host ports: two nodes cannot bind the same host port")
	}
	if len(cfg.KubeadmConfigPatches) != 1 || !strings.Contains(cfg.KubeadmConfigPatches[0], "failCgroupV1: false") {
		t.Errorf("kubeadm patches = %v, want failCgroupV1: false", cfg.KubeadmConfigPatches)
	}
	if len(cfg.ContainerdConfigPatches) != 1 || !strings.Contains(cfg.ContainerdConfigPatches[0], "restrict_oom_score_adj = true") {
		t.Errorf("containerd patches = %v, want restrict_oom_score_adj", cfg.ContainerdConfigPatches)
	}
	if plain := KindConfig("c", "img:1", 0, nil, false); len(plain.ContainerdConfigPatches) != 0 || len(plain.Nodes) != 1 {
		t.Errorf("config without wrapper = %+v, want no containerd patch and one node", plain)
	}
	for _, n := range cfg.Nodes {
		if n.Image != "img:1" {
			t.Errorf("node image = %q, want img:1", n.Image)
		}
	}
}

func TestOnlyCrictlFailures(t *testing.T) {
	t.Parallel()
	crictl := errors.New(`[command "docker exec --privileged n1 crictl images" failed with error: exit status 126, command "docker exec --privileged n2 crictl images" failed with error: exit status 126]`)
	if !onlyCrictlFailures(crictl) {
		t.Errorf("crictl-only failures counted as real: %v", crictl)
	}
	mixed := errors.New(`[command "docker exec --privileged n1 crictl images" failed with error: exit status 126, command "docker exec --privileged n1 journalctl --no-pager" failed with error: exit status 1]`)
	if onlyCrictlFailures(mixed) {
		t.Errorf("a journalctl failure was ignored: %v", mixed)
	}
}

func TestStaleNodes(t *testing.T) {
	t.Parallel()
	want := "ai-assistant-kind-node:v1.37.2-new"
	images := map[string]string{
		"ai-assistant-worker":        want,
		"ai-assistant-control-plane": "ai-assistant-kind-node:v1.37.2-old",
	}
	if got := staleNodes(images, want); !slices.Equal(got, []string{"ai-assistant-control-plane: ai-assistant-kind-node:v1.37.2-old"}) {
		t.Errorf("staleNodes = %q, want the control plane's old image", got)
	}
	images["ai-assistant-control-plane"] = want
	if got := staleNodes(images, want); len(got) != 0 {
		t.Errorf("staleNodes = %q for a cluster of the wanted image, want none", got)
	}
}

// A cluster made with fewer port mappings (an older checkout's) is found out, so that Ensure
// makes it anew instead of handing tests a port that never answers.
func TestUnboundMappings(t *testing.T) {
	t.Parallel()
	want := []PortMapping{
		{ContainerPort: 30080, HostPort: 30080, ListenAddress: "127.0.0.1"},
		{ContainerPort: 30081, HostPort: 30081, ListenAddress: "127.0.0.1"},
		{ContainerPort: 30082, HostPort: 30082, ListenAddress: "127.0.0.1"},
	}
	bound := map[string][]portBinding{
		"30080/tcp": {{HostIP: "127.0.0.1", HostPort: "30080"}},
		"30081/tcp": {{HostIP: "0.0.0.0", HostPort: "30081"}}, // another address
		"6443/tcp":  {{HostIP: "127.0.0.1", HostPort: "41234"}},
	}
	got := unboundMappings(bound, want)
	if !slices.Equal(got, []string{"127.0.0.1:30081", "127.0.0.1:30082"}) {
		t.Errorf("unbound = %v, want 127.0.0.1:30081 and 127.0.0.1:30082", got)
	}
	bound["30081/tcp"] = append(bound["30081/tcp"], portBinding{HostIP: "127.0.0.1", HostPort: "30081"})
	bound["30082/tcp"] = []portBinding{{HostIP: "127.0.0.1", HostPort: "30082"}}
	if got := unboundMappings(bound, want); len(got) != 0 {
		t.Errorf("unbound = %v, want none", got)
	}
}
