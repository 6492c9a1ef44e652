package cluster

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

// PortMapping maps a node container port to a host port on ListenAddress.
type PortMapping struct {
	ContainerPort, HostPort int32
	ListenAddress           string
}

// FirstNodePort and LastNodePort bound the NodePorts the cluster maps to 127.0.0.1.
const (
	FirstNodePort = 30080
	LastNodePort  = 30099
)

// DefaultPortMappings maps NodePorts FirstNodePort-LastNodePort to the same ports on
// 127.0.0.1: enough for the tests that run side by side, each with a port of its own, and
// for the harnesses (ingress, monitoring) that answer on loopback.
func DefaultPortMappings() []PortMapping {
	var m []PortMapping
	for p := int32(FirstNodePort); p <= LastNodePort; p++ {
		m = append(m, PortMapping{ContainerPort: p, HostPort: p, ListenAddress: "127.0.0.1"})
	}
	return m
}

// kubeletCgroupV1Patch lets Kubernetes v1.35+ run where the host has cgroup v1; it is
// harmless with cgroup v2.
const kubeletCgroupV1Patch = `kind: KubeletConfiguration
apiVersion: kubelet.config.k8s.io/v1beta1
failCgroupV1: false
`

// restrictOOMPatch: with CAP_SYS_RESOURCE removed nothing may lower oom_score_adj, so
// containerd must not try.
const restrictOOMPatch = `[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
`

// KindConfig returns the kind cluster config: one control plane with the port mappings, then
// workers; restrictOOM adds the containerd patch hosts without CAP_SYS_RESOURCE need.
func KindConfig(name, image string, workers int, ports []PortMapping, restrictOOM bool) *v1alpha4.Cluster {
	cp := v1alpha4.Node{Role: v1alpha4.ControlPlaneRole, Image: image}
	for _, p := range ports {
		cp.ExtraPortMappings = append(cp.ExtraPortMappings, v1alpha4.PortMapping{
			ContainerPort: p.ContainerPort, HostPort: p.HostPort, ListenAddress: p.ListenAddress,
			Protocol: v1alpha4.PortMappingProtocolTCP,
		})
	}
	cfg := &v1alpha4.Cluster{
		TypeMeta:             v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:                 name,
		Nodes:                []v1alpha4.Node{cp},
		KubeadmConfigPatches: []string{kubeletCgroupV1Patch},
	}
	for i := 0; i < workers; i++ {
		cfg.Nodes = append(cfg.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole, Image: image})
	}
	if restrictOOM {
		cfg.ContainerdConfigPatches = []string{restrictOOMPatch}
	}
	return cfg
}

// capSysResource is CAP_SYS_RESOURCE's bit in the capability sets.
const capSysResource = 24

// HostLacksSysResource reports whether this process's capability bounding set lacks
// CAP_SYS_RESOURCE, the case where hack/docker.sh installs the runc wrapper.
func HostLacksSysResource() (bool, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false, fmt.Errorf("read capability bounding set: %w", err)
	}
	defer f.Close()
	bnd, err := ParseCapBnd(f)
	if err != nil {
		return false, err
	}
	return bnd&(1<<capSysResource) == 0, nil
}

// ParseCapBnd returns the CapBnd mask from /proc/<pid>/status content.
func ParseCapBnd(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapBnd:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("parse CapBnd %q: %w", strings.TrimSpace(v), err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("no CapBnd line in process status")
}
