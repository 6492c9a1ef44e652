package stack

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// Node ports that kind maps to 127.0.0.1 (see package cluster): the main Service and the
// preview Service of the release under test.
const (
	ActiveNodePort  = 30080
	PreviewNodePort = 30081
)

// Values are chart values that run the release against deps on a small kind cluster: the
// loaded images, both Services on loopback node ports, requests small enough for two
// colours on one 2-core node, and probes that answer in seconds instead of the production
// defaults' tens of seconds. Everything else stays at the chart's defaults.
func Values(deps Dependencies, activeTag string) map[string]any {
	return map[string]any{
		"image": map[string]any{"repository": "ai-assistant", "tag": activeTag},
		"service": map[string]any{
			"type": "NodePort", "nodePort": ActiveNodePort,
		},
		"previewService": map[string]any{
			"type": "NodePort", "nodePort": PreviewNodePort,
		},
		"replicaCount": 2,
		"autoscaling": map[string]any{
			"minReplicas": 2, "maxReplicas": 6,
		},
		"resources": map[string]any{
			"requests": map[string]any{"cpu": "20m", "memory": "32Mi", "ephemeral-storage": "16Mi"},
			"limits":   map[string]any{"cpu": "500m", "memory": "128Mi", "ephemeral-storage": "256Mi"},
		},
		// No startup delay: the chart's (the seed's 10 s) would otherwise stay under this probe
		// and hold every new pod out of its Service for 10 s after the server answers in well
		// under one. The readiness probe keeps the seed's 5 s: with none, /ready ran its first
		// dependency checks while the LLM stand-in was still starting, and in 2 of 5 runs one
		// pod's llm check then failed for 5 minutes while its twin's recovered in 4 s (an
		// install that never finished; not understood yet, see the closing note of stop 24).
		"startupProbe": map[string]any{
			"httpGet":             map[string]any{"path": "/health", "port": "http"},
			"initialDelaySeconds": 0,
			"periodSeconds":       1,
			"failureThreshold":    30,
		},
		// Three failed probes before a pod leaves the endpoints: on a busy two-core machine one
		// /ready can miss its 2 s, and with a threshold of 1 every pod of a release left at once
		// (503s through the Ingress, resets on the node port, in two tests at the same second).
		"readinessProbe": map[string]any{
			"httpGet":             map[string]any{"path": "/ready", "port": "http"},
			"initialDelaySeconds": 5,
			"periodSeconds":       2,
			"timeoutSeconds":      2,
			"failureThreshold":    3,
		},
		"preStopSleepSeconds": 5,
		"config": map[string]any{
			"VECTOR_DB_HOST": "", // no Milvus in the test cluster: its check is skipped
			"LLM_BASE_URL":   deps.LLMBaseURL,
			// Keep-alive clients reconnect at least this often, so they follow a cutover.
			"HTTP_MAX_CONNECTION_AGE": "1s",
			"READY_CACHE_TTL":         "500ms",
		},
		"secrets": map[string]any{
			"DATABASE_URL":     deps.DatabaseURL,
			"REDIS_URL":        deps.RedisURL,
			"DEEPSEEK_API_KEY": StandinAPIKey, // the key the stand-in requires
		},
	}
}

// WriteValues writes values as a YAML file for `helm -f`.
func WriteValues(path string, values map[string]any) error {
	b, err := yaml.Marshal(values)
	if err != nil {
		return fmt.Errorf("marshal values: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write values file: %w", err)
	}
	return nil
}
