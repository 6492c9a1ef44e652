package release

import (
	"strings"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// objectNamespace follows the chart's rule for a values file: namespaceOverride, else the
// release's namespace.
func objectNamespace(releaseNamespace string, ch *chart.Chart, user map[string]any) string {
	for _, vals := range []map[string]any{user, ch.Values} {
		if o := values.StringAt(vals, "namespaceOverride"); o != "" {
			return o
		}
	}
	return releaseNamespace
}

// fullname follows the chart's rule (truncated to 55 so "-preview" still fits a DNS label), for a
// GitOps values file, which has no release manifest: fullnameOverride, else the release name when it
// contains the chart's name, else <release>-<chart>.
func fullnameOf(releaseName string, ch *chart.Chart, user map[string]any) string {
	if o := values.StringAt(user, "fullnameOverride"); o != "" {
		return trunc55(o)
	}
	if o := values.StringAt(ch.Values, "fullnameOverride"); o != "" {
		return trunc55(o)
	}
	name := ch.Name()
	if o := values.StringAt(user, "nameOverride"); o != "" {
		name = o
	}
	if strings.Contains(releaseName, name) {
		return trunc55(releaseName)
	}
	return trunc55(releaseName + "-" + name)
}

func trunc55(s string) string {
	if len(s) > 55 {
		s = s[:55]
	}
	for len(s) > 0 && s[len(s)-1] == '-' {
		s = s[:len(s)-1]
	}
	return s
}
