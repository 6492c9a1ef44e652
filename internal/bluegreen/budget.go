package bluegreen

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// The kubelet's readiness defaults, for a probe that leaves them unset.
const (
	defaultProbePeriod    = 10 * time.Second
	defaultProbeThreshold = 3
)

// switchBackBudget says, when it is so, that the kubelet can take a failing pod of the new
// colour out of the Service's endpoints before the post-switch check switches back. Once the
// kubelet has marked every new pod unready the Service has no ready endpoint, and requests
// fail until the switch back lands; while the kubelet still counts failures, they are served
// by pods that still answer, so the check must be the faster of the two.
//
// From the moment the pods start failing, the kubelet can mark one unready after
// (failureThreshold-1) × periodSeconds (a probe may land at once); this check needs, at
// worst, FailureLimit+1 rounds Interval apart and then a switch as long as the one just made.
// The proxy's own sync comes on top of both, so it is left out.
func switchBackBudget(c values.Color, pods []corev1.Pod, g Gates, switchTook time.Duration) string {
	kubelet, probe := time.Duration(-1), ""
	for _, p := range pods {
		for _, ctr := range p.Spec.Containers {
			rp := ctr.ReadinessProbe
			if rp == nil {
				continue // no readiness probe: a failing pod is never taken out
			}
			period, threshold := defaultProbePeriod, int32(defaultProbeThreshold)
			if rp.PeriodSeconds > 0 {
				period = time.Duration(rp.PeriodSeconds) * time.Second
			}
			if rp.FailureThreshold > 0 {
				threshold = rp.FailureThreshold
			}
			if d := time.Duration(threshold-1) * period; kubelet < 0 || d < kubelet {
				kubelet = d
				probe = fmt.Sprintf("every %s, failureThreshold %d", period, threshold)
			}
		}
	}
	if kubelet < 0 {
		return ""
	}
	check := time.Duration(g.FailureLimit+1)*g.Interval + switchTook
	if check < kubelet {
		return ""
	}
	return fmt.Sprintf("%s's readiness probe (%s) can take a failing pod out of the endpoints %s after it starts failing, "+
		"but this check switches back only after %d failed rounds %s apart and a switch (%s the last time): %s. "+
		"Requests in between fail: raise %s.readinessProbe.failureThreshold or periodSeconds, or lower --failure-limit or --gate-interval",
		c, probe, kubelet, g.FailureLimit+1, g.Interval, switchTook.Round(time.Millisecond), check.Round(time.Millisecond), c)
}
