package podspec

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The fields Pod Security "restricted" checks, each set as it requires.
func TestRestrictedMeetsPodSecurityRestricted(t *testing.T) {
	s := Restricted()
	if s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation ||
		s.RunAsNonRoot == nil || !*s.RunAsNonRoot || s.RunAsUser == nil || *s.RunAsUser == 0 ||
		s.Capabilities == nil || len(s.Capabilities.Drop) != 1 || s.Capabilities.Drop[0] != "ALL" ||
		s.SeccompProfile == nil || s.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("Restricted() = %+v, not Pod Security restricted", s)
	}
	if Restricted() == s {
		t.Error("Restricted() returned a shared object: a caller's edit would change every component")
	}
}

func TestRequestsHasNoLimits(t *testing.T) {
	r := Requests("50m", "64Mi")
	if !r.Requests.Cpu().Equal(resource.MustParse("50m")) || !r.Requests.Memory().Equal(resource.MustParse("64Mi")) || r.Limits != nil {
		t.Errorf("Requests(50m, 64Mi) = %+v", r)
	}
}
