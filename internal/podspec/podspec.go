// Package podspec holds the pod-spec pieces the harnesses' stacks (metrics-server, monitoring,
// ingress) share, so that each component meets Pod Security "restricted" the same way.
package podspec

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// NonRootUser is the nonroot user of the distroless-style images built here.
const NonRootUser = 65532

// Restricted is a container security context that meets Pod Security "restricted": the image
// runs as NonRootUser, with no privilege escalation, no capabilities, a read-only root
// filesystem and the runtime's default seccomp profile.
func Restricted() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		ReadOnlyRootFilesystem:   ptr.To(true),
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To(int64(NonRootUser)),
		RunAsGroup:               ptr.To(int64(NonRootUser)),
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// Requests asks for cpu and memory, with no limits.
func Requests(cpu, memory string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory),
	}}
}
