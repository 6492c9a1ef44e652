package unit

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInvalidValuesAreRejected: every bad value fails the install with a message naming the
// key, so nothing is rendered and nothing in the cluster changes. Schema errors name the key
// as a JSON pointer (/image/pullPolicy); cross-field `fail`s name the keys in values syntax.
func TestInvalidValuesAreRejected(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		yaml string
		sets []string
		want []string // substrings of the error, each naming a key or the rule
	}{
		// values.schema.json: types, enums, ranges, patterns, unknown keys.
		{name: "unknown colour", sets: []string{"activeColor=purple"}, want: []string{"/activeColor"}},
		{name: "activeColor removed", sets: []string{"activeColor=null"}, want: []string{"activeColor"}},
		{name: "typo at the top level", sets: []string{"replicas=3"}, want: []string{"replicas"}},
		{name: "typo in a nested key", sets: []string{"autoscaling.minReplica=2"}, want: []string{"/autoscaling", "minReplica"}},
		{name: "pull policy", sets: []string{"image.pullPolicy=Sometimes"}, want: []string{"/image/pullPolicy"}},
		{name: "empty repository", sets: []string{"image.repository="}, want: []string{"/image/repository"}},
		{name: "tag with a space", sets: []string{"green.image.tag=v2 beta"}, want: []string{"/green/image/tag"}},
		{name: "short digest", sets: []string{"green.image.digest=sha256:abc"}, want: []string{"/green/image/digest"}},
		{name: "negative colour replicas", sets: []string{"blue.replicas=-1"}, want: []string{"/blue/replicas"}},
		{name: "colour replicas as text", sets: []string{"green.replicas=many"}, want: []string{"/green/replicas"}},
		{name: "deadline not RFC 3339", sets: []string{"blue.scaleDownAt=tomorrow"}, want: []string{"/blue/scaleDownAt"}},
		{name: "colour env without a name", yaml: "green: {env: [{value: x}]}", want: []string{"/green/env/0", "name"}},
		{name: "replicaCount zero", sets: []string{"replicaCount=0"}, want: []string{"/replicaCount"}},
		{name: "replicaCount as text", yaml: "replicaCount: three", want: []string{"/replicaCount"}},
		{name: "CPU target over 100", sets: []string{"autoscaling.targetCPUUtilizationPercentage=150"}, want: []string{"/autoscaling/targetCPUUtilizationPercentage"}},
		{name: "maxReplicas zero", sets: []string{"autoscaling.maxReplicas=0"}, want: []string{"/autoscaling/maxReplicas"}},
		{name: "autoscaling flag as text", yaml: "autoscaling: {enabled: sometimes}", want: []string{"/autoscaling/enabled"}},
		{name: "service type", sets: []string{"service.type=ExternalName"}, want: []string{"/service/type"}},
		{name: "service port out of range", sets: []string{"service.port=70000"}, want: []string{"/service/port"}},
		{name: "node port out of range", sets: []string{"service.type=NodePort", "service.nodePort=80"}, want: []string{"/service/nodePort"}},
		{name: "ingress path type", yaml: "ingress: {enabled: true, hosts: [{host: a.example.com, paths: [{path: /, pathType: Regex}]}]}", want: []string{"/ingress/hosts/0/paths/0/pathType"}},
		{name: "ingress path without slash", yaml: "ingress: {enabled: true, hosts: [{host: a.example.com, paths: [{path: api, pathType: Prefix}]}]}", want: []string{"/ingress/hosts/0/paths/0/path"}},
		{name: "log level", sets: []string{"config.LOG_LEVEL=LOUD"}, want: []string{"/config/LOG_LEVEL"}},
		{name: "max tokens not a number", sets: []string{"config.MAX_TOKENS=lots"}, want: []string{"/config/MAX_TOKENS"}},
		{name: "config key not an env name", yaml: "config: {\"bad-key\": x}", want: []string{"/config", "'bad-key' not allowed"}},
		{name: "secret not a string", sets: []string{"secrets.OPENAI_API_KEY=123"}, want: []string{"/secrets/OPENAI_API_KEY"}},
		{name: "networkPolicy flag as text", sets: []string{"networkPolicy.enabled=yes"}, want: []string{"/networkPolicy/enabled"}},
		{name: "scrape interval", sets: []string{"metrics.serviceMonitor.interval=15 seconds"}, want: []string{"/metrics/serviceMonitor/interval"}},
		{name: "error ratio above 1", sets: []string{"metrics.prometheusRule.errorRatioThreshold=2"}, want: []string{"/metrics/prometheusRule/errorRatioThreshold"}},
		{name: "negative maxUnavailable", sets: []string{"podDisruptionBudget.maxUnavailable=-1"}, want: []string{"/podDisruptionBudget/maxUnavailable"}},
		{name: "zero grace period", sets: []string{"terminationGracePeriodSeconds=0"}, want: []string{"/terminationGracePeriodSeconds"}},
		{name: "pod security level", sets: []string{"namespace.podSecurity=strict"}, want: []string{"/namespace/podSecurity"}},
		{name: "spread rule", sets: []string{"topologySpread.whenUnsatisfiable=Never"}, want: []string{"/topologySpread/whenUnsatisfiable"}},
		{name: "strategy type", sets: []string{"strategy.type=BlueGreen"}, want: []string{"/strategy/type"}},
		{name: "fullnameOverride not a DNS label", sets: []string{"fullnameOverride=Bad_Name"}, want: []string{"/fullnameOverride"}},
		{name: "fullnameOverride too long for <name>-preview", sets: []string{"fullnameOverride=" + strings.Repeat("f", 56)}, want: []string{"/fullnameOverride", "maxLength"}},
		{name: "probe typo", yaml: "readinessProbe: {httpGet: {path: /ready, port: http}, periodSecond: 5}", want: []string{"/readinessProbe"}},

		// Cross-field rules (templates/_helpers.tpl ai-assistant.validate).
		{name: "active colour scaled to zero", sets: []string{"activeColor=green"}, want: []string{"activeColor=green", "green.replicas is 0"}},
		{name: "min above max", sets: []string{"autoscaling.minReplicas=5", "autoscaling.maxReplicas=4"}, want: []string{"autoscaling.minReplicas (5)", "autoscaling.maxReplicas (4)"}},
		{name: "colour replicas above the HPA maximum", sets: []string{"green.replicas=20"}, want: []string{"green.replicas (20)", "autoscaling.maxReplicas (10)"}},
		{name: "autoscaling without a metric", yaml: "autoscaling: {targetCPUUtilizationPercentage: null, targetMemoryUtilizationPercentage: null}", want: []string{"autoscaling.targetCPUUtilizationPercentage"}},
		{name: "preStop as long as the grace period", sets: []string{"preStopSleepSeconds=60"}, want: []string{"preStopSleepSeconds (60)", "terminationGracePeriodSeconds (60)"}},
		{name: "PDB with both bounds", sets: []string{"podDisruptionBudget.minAvailable=1"}, want: []string{"podDisruptionBudget.minAvailable", "podDisruptionBudget.maxUnavailable"}},
		{name: "PDB with no bound", yaml: "podDisruptionBudget: {maxUnavailable: null}", want: []string{"podDisruptionBudget.minAvailable", "podDisruptionBudget.maxUnavailable"}},
		{name: "TLS without hosts", yaml: "ingress: {enabled: true, tls: [{secretName: api-tls}]}", want: []string{"ingress.tls[0].hosts"}},
		{name: "TLS without a secret", yaml: "ingress: {enabled: true, tls: [{hosts: [api.example.com]}]}", want: []string{"ingress.tls[0].secretName"}},
		{name: "ingress without hosts", yaml: "ingress: {enabled: true, hosts: []}", want: []string{"ingress.hosts"}},
		{name: "node port on a ClusterIP Service", sets: []string{"service.nodePort=30080"}, want: []string{"service.nodePort", "service.type"}},
		{name: "two Services on one node port", sets: []string{"service.type=NodePort", "service.nodePort=30080", "previewService.type=NodePort", "previewService.nodePort=30080"}, want: []string{"service.nodePort", "previewService.nodePort"}},
		{name: "request-rate metric without autoscaling", sets: []string{"autoscaling.enabled=false", "autoscaling.requestsPerSecond.enabled=true"}, want: []string{"autoscaling.requestsPerSecond.enabled", "autoscaling.enabled"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rel, err := renderRelease(t, values(t, tc.yaml, tc.sets...), kubeVersion)
			require.Error(t, err, "values were accepted")
			if rel != nil {
				assert.Empty(t, rel.Manifest, "nothing rendered")
			}
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
