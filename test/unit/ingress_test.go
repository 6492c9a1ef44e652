package unit

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"
)

// The class goes where ingress.classBy says: the field, the legacy annotation the seed used,
// or both with the same value (the API server refuses the two when they differ).
func TestIngressClassBy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		by         string
		field      *string
		annotation string // "" = absent
	}{
		{by: "ingressClassName", field: ptr.To("nginx")},
		{by: "annotation", annotation: "nginx"},
		{by: "both", field: ptr.To("nginx"), annotation: "nginx"},
	} {
		t.Run(tc.by, func(t *testing.T) {
			t.Parallel()
			r := render(t, values(t, "", "ingress.enabled=true", "ingress.classBy="+tc.by))
			ing := get[*networkingv1.Ingress](t, r, "ai-assistant")
			assert.Equal(t, tc.field, ing.Spec.IngressClassName)
			got, ok := ing.Annotations["kubernetes.io/ingress.class"]
			assert.Equal(t, tc.annotation != "", ok, "legacy class annotation present")
			assert.Equal(t, tc.annotation, got)
			assert.Equal(t, "letsencrypt-prod", ing.Annotations["cert-manager.io/cluster-issuer"], "the other annotations stay")
		})
	}
	r := render(t, values(t, "", "ingress.enabled=true", "ingress.className="))
	ing := get[*networkingv1.Ingress](t, r, "ai-assistant")
	assert.Nil(t, ing.Spec.IngressClassName, "an empty class leaves the cluster's default class")
	assert.NotContains(t, ing.Annotations, "kubernetes.io/ingress.class")
}

// More hosts are more entries of ingress.hosts, each with its paths; ingress.extraPaths come
// first on every host with their own backends, and the chart's paths go to the main Service.
func TestIngressExtraHostsAndPaths(t *testing.T) {
	t.Parallel()
	r := render(t, values(t, `
ingress:
  enabled: true
  hosts:
    - host: api.example.com
      paths: [{path: /, pathType: Prefix}]
    - host: chat.example.com
      paths: [{path: /v1, pathType: Prefix}, {path: /health, pathType: Exact}]
  extraPaths:
    - path: /docs
      pathType: Prefix
      backend: {service: {name: docs, port: {number: 8080}}}
  tls:
    - secretName: api-tls
      hosts: [api.example.com, chat.example.com]
`))
	ing := get[*networkingv1.Ingress](t, r, "ai-assistant")
	main := func(path string, pt networkingv1.PathType) networkingv1.HTTPIngressPath {
		return networkingv1.HTTPIngressPath{Path: path, PathType: ptr.To(pt), Backend: networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: "ai-assistant", Port: networkingv1.ServiceBackendPort{Name: "http"}},
		}}
	}
	docs := networkingv1.HTTPIngressPath{Path: "/docs", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: "docs", Port: networkingv1.ServiceBackendPort{Number: 8080}},
	}}
	require.Len(t, ing.Spec.Rules, 2)
	assert.Equal(t, "api.example.com", ing.Spec.Rules[0].Host)
	assert.Equal(t, []networkingv1.HTTPIngressPath{docs, main("/", networkingv1.PathTypePrefix)}, ing.Spec.Rules[0].HTTP.Paths)
	assert.Equal(t, "chat.example.com", ing.Spec.Rules[1].Host)
	assert.Equal(t, []networkingv1.HTTPIngressPath{docs, main("/v1", networkingv1.PathTypePrefix), main("/health", networkingv1.PathTypeExact)}, ing.Spec.Rules[1].HTTP.Paths)
	assert.Equal(t, []networkingv1.IngressTLS{{Hosts: []string{"api.example.com", "chat.example.com"}, SecretName: "api-tls"}}, ing.Spec.TLS)
}

// The preview Ingress routes its own hosts to the preview Service (the idle colour) with its
// own TLS Secret, and takes the main Ingress's annotations under its own.
func TestIngressPreviewRoutesToThePreviewService(t *testing.T) {
	t.Parallel()
	r := render(t, values(t, `
ingress:
  enabled: true
  classBy: both
  preview:
    enabled: true
    annotations:
      nginx.ingress.kubernetes.io/ssl-redirect: "false"
      cert-manager.io/cluster-issuer: internal-ca
`))
	main := get[*networkingv1.Ingress](t, r, "ai-assistant")
	preview := get[*networkingv1.Ingress](t, r, "ai-assistant-preview")
	assert.Equal(t, "active", main.Labels["ai-assistant.io/role"])
	assert.Equal(t, "preview", preview.Labels["ai-assistant.io/role"])
	assert.Equal(t, ptr.To("nginx"), preview.Spec.IngressClassName)
	assert.Equal(t, map[string]string{
		"cert-manager.io/cluster-issuer":                 "internal-ca",
		"kubernetes.io/ingress.class":                    "nginx",
		"nginx.ingress.kubernetes.io/proxy-body-size":    "50m",
		"nginx.ingress.kubernetes.io/proxy-read-timeout": "300",
		"nginx.ingress.kubernetes.io/ssl-redirect":       "false",
	}, preview.Annotations)
	assert.Equal(t, "letsencrypt-prod", main.Annotations["cert-manager.io/cluster-issuer"], "the preview's annotations stay its own")
	assert.NotContains(t, main.Annotations, "nginx.ingress.kubernetes.io/ssl-redirect")
	assert.Equal(t, []networkingv1.IngressTLS{{Hosts: []string{"preview.api.your-domain.com"}, SecretName: "ai-assistant-preview-tls"}}, preview.Spec.TLS)
	require.Len(t, preview.Spec.Rules, 1)
	assert.Equal(t, "preview.api.your-domain.com", preview.Spec.Rules[0].Host)
	assert.Equal(t, []networkingv1.HTTPIngressPath{{
		Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
		Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
			Name: "ai-assistant-preview", Port: networkingv1.ServiceBackendPort{Name: "http"},
		}},
	}}, preview.Spec.Rules[0].HTTP.Paths)

	off := render(t, values(t, "", "ingress.enabled=true"))
	assert.Nil(t, find[*networkingv1.Ingress](off, "ai-assistant-preview"), "no preview Ingress by default")
}

func TestIngressValuesRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{name: "unknown classBy", yaml: "ingress: {enabled: true, classBy: field}", want: []string{"/ingress/classBy"}},
		{name: "extra path without a backend", yaml: "ingress: {enabled: true, extraPaths: [{path: /docs, pathType: Prefix}]}", want: []string{"/ingress/extraPaths/0", "backend"}},
		{name: "preview typo", yaml: "ingress: {preview: {enable: true}}", want: []string{"/ingress/preview"}},
		{name: "annotation class with no class", yaml: "ingress: {enabled: true, className: '', classBy: annotation}", want: []string{"ingress.classBy", "ingress.className"}},
		{name: "preview without the preview Service", yaml: "previewService: {enabled: false}\ningress: {enabled: true, preview: {enabled: true}}", want: []string{"ingress.preview.enabled", "previewService.enabled"}},
		{name: "preview without hosts", yaml: "ingress: {enabled: true, preview: {enabled: true, hosts: []}}", want: []string{"ingress.preview.hosts"}},
		{name: "preview sharing the main TLS Secret", yaml: "ingress: {enabled: true, preview: {enabled: true, tls: [{secretName: ai-assistant-tls, hosts: [p.example.com]}]}}", want: []string{"ingress.preview.tls[0].secretName", "ai-assistant-tls"}},
		{name: "preview TLS without a secret", yaml: "ingress: {enabled: true, preview: {enabled: true, tls: [{hosts: [p.example.com]}]}}", want: []string{"ingress.preview.tls[0]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rel, err := renderRelease(t, values(t, tc.yaml), kubeVersion)
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
