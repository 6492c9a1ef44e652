package demo

import (
	"context"
	"fmt"
	"os"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/cluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/ingress"
)

// IngressHost is the demo release's host behind the ingress stack (`INGRESS=1 make demo`).
const IngressHost = "api.ai-assistant.test"

// installIngress builds (when missing) and loads Traefik's and cert-manager's images and
// installs the ingress stack, then writes its CA certificate to caPath for curl.
func installIngress(ctx context.Context, repoRoot string, c *cluster.Cluster, caPath string, detail func(string, ...any)) (*ingress.Stack, error) {
	o, tarballs, err := ingress.PrepareStack(ctx, repoRoot, detail)
	if err != nil {
		return nil, err
	}
	if err := c.LoadImageArchives(ctx, tarballs...); err != nil {
		return nil, err
	}
	st, err := ingress.Install(ctx, c.RESTConfig, o)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(caPath, st.CAPEM, 0o644); err != nil {
		return nil, fmt.Errorf("write the CA certificate: %w", err)
	}
	return st, nil
}

// ingressValues are the seed's Ingress on IngressHost, its certificate from the stack's CA
// ClusterIssuer.
func ingressValues() map[string]any {
	return map[string]any{
		"enabled": true,
		"annotations": map[string]any{
			"cert-manager.io/cluster-issuer":                 ingress.ClusterIssuer,
			"nginx.ingress.kubernetes.io/proxy-body-size":    "50m",
			"nginx.ingress.kubernetes.io/proxy-read-timeout": "300",
		},
		"hosts": []any{map[string]any{"host": IngressHost, "paths": []any{map[string]any{"path": "/", "pathType": "Prefix"}}}},
		"tls":   []any{map[string]any{"secretName": "ai-assistant-tls", "hosts": []any{IngressHost}}},
	}
}

// ingressHint tells the user how to reach the release through the Ingress.
func ingressHint(caPath string) string {
	return fmt.Sprintf(`  Through the Ingress (Traefik serving class nginx, certificate from cert-manager's CA):
                  curl -i --cacert %s --resolve %s:%d:127.0.0.1 https://%s:%d/
`, caPath, IngressHost, ingress.HTTPSNodePort, IngressHost, ingress.HTTPSNodePort)
}
