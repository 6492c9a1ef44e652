package kindnode

import (
	"fmt"
	"regexp"
	"strings"
)

// ImageSet is what `kubeadm config images list` names for one Kubernetes version, plus the
// sandbox image kind's containerd config asks for.
type ImageSet struct {
	APIServer, ControllerManager, Scheduler, Proxy string
	Etcd, CoreDNS, Pause                           string
	// Sandbox is containerd's sandbox_image; it may equal Pause.
	Sandbox string
	// PodNet is our pod-network agent's image (package podnet).
	PodNet string
}

// All returns every distinct image reference in the set.
func (s ImageSet) All() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range []string{s.APIServer, s.ControllerManager, s.Scheduler, s.Proxy, s.Etcd, s.CoreDNS, s.Pause, s.Sandbox, s.PodNet} {
		if r != "" && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// ParseImageList reads `kubeadm config images list` output, one reference a line.
func ParseImageList(out string) (ImageSet, error) {
	var s ImageSet
	for _, line := range strings.Split(out, "\n") {
		ref := strings.TrimSpace(line)
		if ref == "" || strings.Contains(ref, " ") {
			continue // kubeadm may print warnings before the list
		}
		name := refName(ref)
		switch {
		case strings.HasSuffix(name, "/kube-apiserver"):
			s.APIServer = ref
		case strings.HasSuffix(name, "/kube-controller-manager"):
			s.ControllerManager = ref
		case strings.HasSuffix(name, "/kube-scheduler"):
			s.Scheduler = ref
		case strings.HasSuffix(name, "/kube-proxy"):
			s.Proxy = ref
		case strings.HasSuffix(name, "/etcd"):
			s.Etcd = ref
		case strings.HasSuffix(name, "/coredns"):
			s.CoreDNS = ref
		case strings.HasSuffix(name, "/pause"):
			s.Pause = ref
		}
	}
	for what, v := range map[string]string{"kube-apiserver": s.APIServer, "kube-controller-manager": s.ControllerManager,
		"kube-scheduler": s.Scheduler, "kube-proxy": s.Proxy, "etcd": s.Etcd, "coredns": s.CoreDNS, "pause": s.Pause} {
		if v == "" {
			return s, fmt.Errorf("kubeadm image list names no %s image: %q", what, out)
		}
	}
	return s, nil
}

// refName returns the reference without its tag.
func refName(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i]
	}
	return ref
}

// refTag returns the reference's tag, or "" when it has none.
func refTag(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[i+1:]
	}
	return ""
}

// EtcdModuleVersion maps an etcd image tag (3.7.0-0) to its Go module version (v3.7.0).
func EtcdModuleVersion(ref string) (string, error) {
	tag := refTag(ref)
	v, _, _ := strings.Cut(tag, "-")
	if !semver.MatchString(v) {
		return "", fmt.Errorf("etcd image %q has no x.y.z tag", ref)
	}
	return "v" + v, nil
}

// CoreDNSModuleVersion maps a CoreDNS image tag (v1.14.6) to its Go module version.
func CoreDNSModuleVersion(ref string) (string, error) {
	v := strings.TrimPrefix(refTag(ref), "v")
	if !semver.MatchString(v) {
		return "", fmt.Errorf("coredns image %q has no vX.Y.Z tag", ref)
	}
	return "v" + v, nil
}

var semver = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)

var sandboxImage = regexp.MustCompile(`(?m)^\s*sandbox_image\s*=\s*"([^"]+)"`)

// SandboxImage returns the sandbox_image a containerd config.toml names, or "".
func SandboxImage(configToml string) string {
	if m := sandboxImage.FindStringSubmatch(configToml); m != nil {
		return m[1]
	}
	return ""
}
