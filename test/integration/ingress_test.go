//go:build integration

package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/cluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/ingress"
)

// The seed's Ingress on kind: Traefik's NGINX provider serves class nginx on 127.0.0.1
// (HTTP ingress.HTTPNodePort, HTTPS ingress.HTTPSNodePort), cert-manager issues each
// release's certificate from the CA ClusterIssuer its annotation names. Requests carry the
// release's host name (Host and SNI) and are dialled to loopback, so no /etc/hosts entry is
// needed, and each test has hosts of its own.

var (
	ingressStackOnce = &suiteStack{name: "ingress"}
	ingressStack     *ingress.Stack // set by ingressStackOn
)

// ingressStackOn installs the ingress stack into the shared cluster once per test binary, for
// TestMain to remove after the suite: the cluster is shared with other checkouts, whose tests
// expect no ingress controller on its ports. It returns an error instead of failing t, so that
// a test can run it beside its release's install.
func ingressStackOn(c *cluster.Cluster) (*ingress.Stack, error) {
	err := ingressStackOnce.ensure(30*time.Minute, func(ctx context.Context, logf func(string, ...any)) error {
		// hack/images.sh builds both before the tests, so a cold build shows its progress
		// there; here they are up to date.
		o, tarballs, err := ingress.PrepareStack(ctx, repoRoot, logf)
		if err != nil {
			return err
		}
		if err := c.LoadImageArchives(ctx, tarballs...); err != nil {
			return err
		}
		ingressStack, err = ingress.Install(ctx, c.RESTConfig, o)
		return err
	}, func(ctx context.Context) error {
		dir, err := ingress.CRDDir(ctx, repoRoot)
		if err != nil {
			return err
		}
		return ingress.Uninstall(ctx, c.RESTConfig, dir)
	})
	return ingressStack, err
}

// ingressApp installs a release with an Ingress (values from ing), beside the ingress stack's
// install, and waits until its main host answers over HTTPS with a certificate that verifies.
func ingressApp(t *testing.T, ing ingressSpec) (*app, *ingressRoute) {
	t.Helper()
	c, _ := appCluster(t)
	stackErr := make(chan error, 1)
	go func() {
		_, err := ingressStackOn(c)
		stackErr <- err
	}()
	// The Ingress's certificate is issued once cert-manager runs; the release installs
	// meanwhile. A preview Ingress needs the idle colour running: one pod of it.
	values := map[string]any{"ingress": ing.values()}
	if ing.previewHost != "" {
		values["green"] = map[string]any{"replicas": 1}
	}
	a := newApp(t, values)
	require.NoError(t, <-stackErr, "install the ingress stack (hack/images.sh shows the builds)")
	route := &ingressRoute{stack: ingressStack, host: ing.host}
	a.ingress = route
	route.waitServing(t, "/ready", 3*time.Minute)
	return a, route
}

// ingressSpec is the chart's ingress values a test installs: the seed's annotations with the
// stack's ClusterIssuer, a host of the test's own and its TLS Secret.
type ingressSpec struct {
	host, previewHost  string // previewHost "": no preview Ingress
	classBy            string
	previewAnnotations map[string]any
}

func newIngressSpec(classBy string) ingressSpec {
	id := strings.ToLower(random.UniqueId())
	return ingressSpec{host: "api-" + id + ".ingress.test", classBy: classBy}
}

func (s ingressSpec) values() map[string]any {
	hosts := func(h string) []any {
		return []any{map[string]any{"host": h, "paths": []any{map[string]any{"path": "/", "pathType": "Prefix"}}}}
	}
	tlsFor := func(secret, h string) []any { return []any{map[string]any{"secretName": secret, "hosts": []any{h}}} }
	preview := map[string]any{"enabled": false, "annotations": map[string]any{}, "hosts": hosts("preview.ingress.test"), "tls": []any{}}
	if s.previewHost != "" {
		preview = map[string]any{"enabled": true, "annotations": s.previewAnnotations, "hosts": hosts(s.previewHost), "tls": tlsFor("preview-tls", s.previewHost)}
	}
	return map[string]any{
		"enabled": true, "className": ingress.ClassName, "classBy": s.classBy,
		// The seed's annotations, its issuer replaced by the stack's CA ClusterIssuer, and an
		// ECDSA key: the cutover's fresh-connection load makes Traefik sign 200 handshakes a
		// second, which with cert-manager's default RSA 2048 key cost it about half a core.
		"annotations": map[string]any{
			"cert-manager.io/cluster-issuer":                 ingress.ClusterIssuer,
			"cert-manager.io/private-key-algorithm":          "ECDSA",
			"nginx.ingress.kubernetes.io/proxy-body-size":    "50m",
			"nginx.ingress.kubernetes.io/proxy-read-timeout": "300",
		},
		"hosts": hosts(s.host), "extraPaths": []any{}, "tls": tlsFor("api-tls", s.host), "preview": preview,
	}
}

// ingressRoute reaches one host of the ingress stack from the test: every connection is
// dialled to Traefik's node port on 127.0.0.1 (443 -> HTTPS, 80 -> HTTP), while the URL keeps
// the host name, which becomes the Host header and the TLS server name, and the certificate
// is verified against the stack's CA and that name.
type ingressRoute struct {
	stack *ingress.Stack
	host  string
}

func (r *ingressRoute) url(path string) string { return "https://" + r.host + path }

// transport is an HTTP transport that dials the stack and trusts roots (nil: the system's).
func (r *ingressRoute) transport(keepAlive bool, roots *x509.CertPool) *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			to := map[string]string{"443": r.stack.HTTPSAddr, "80": r.stack.HTTPAddr}[port]
			if to == "" {
				return nil, fmt.Errorf("no ingress entry point for %s", addr)
			}
			return dialer.DialContext(ctx, network, to)
		},
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 5 * time.Second,
		DisableKeepAlives:   !keepAlive,
		MaxIdleConnsPerHost: 200,
		IdleConnTimeout:     90 * time.Second,
	}
	return tr
}

// client verifies against the stack's CA; it does not follow redirects, so a test sees them.
func (r *ingressRoute) client(keepAlive bool) *http.Client {
	return &http.Client{
		Transport:     r.transport(keepAlive, r.stack.CAPool),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// waitServing polls path over HTTPS until it answers 200 with a certificate that verifies:
// cert-manager has issued it and Traefik has loaded it with the host's routes.
func (r *ingressRoute) waitServing(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	client := r.client(false)
	client.Timeout = 5 * time.Second
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		resp, err := client.Get(r.url(path))
		if err != nil {
			last = err.Error()
			return false, nil
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		last = resp.Status
		return resp.StatusCode == http.StatusOK, nil
	})
	require.NoError(t, err, "https://%s%s through the ingress never answered 200 (last: %s)", r.host, path, last)
}

// get sends one request through the ingress and returns the status, the colour header and
// the body.
func (r *ingressRoute) get(t *testing.T, client *http.Client, url string) (int, string, string) {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err, "GET %s", url)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("X-App-Color"), string(b)
}

var certificates = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}

// TestIngressCertificateAndPreview: the chart's Ingress, with the class set by the seed's
// legacy annotation only, gets its certificate from cert-manager through the
// `cert-manager.io/cluster-issuer` annotation; a client verifies the chain against the CA and
// the host name, and plain HTTP is redirected to HTTPS (the NGINX provider's ssl-redirect
// default for an Ingress with TLS). The preview Ingress's host reaches the idle colour only,
// over HTTPS with a certificate of its own, and over plain HTTP too, as its
// `ssl-redirect: "false"` asks.
func TestIngressCertificateAndPreview(t *testing.T) {
	parallel(t)
	spec := newIngressSpec("annotation")
	spec.previewHost = "preview-" + spec.host
	spec.previewAnnotations = map[string]any{"nginx.ingress.kubernetes.io/ssl-redirect": "false"}
	a, route := ingressApp(t, spec)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("certificate", func(t *testing.T) {
		// cert-manager's ingress-shim made a Certificate named after the TLS Secret, from the
		// ClusterIssuer the annotation names, and it is ready.
		dyn, err := dynamic.NewForConfig(a.c.RESTConfig)
		require.NoError(t, err)
		crt, err := dyn.Resource(certificates).Namespace(a.ns).Get(ctx, "api-tls", metav1.GetOptions{})
		require.NoError(t, err, "the Certificate the ingress-shim creates for the Ingress's TLS Secret")
		issuer, _, _ := unstructured.NestedString(crt.Object, "spec", "issuerRef", "name")
		kind, _, _ := unstructured.NestedString(crt.Object, "spec", "issuerRef", "kind")
		assert.Equal(t, ingress.ClusterIssuer, issuer)
		assert.Equal(t, "ClusterIssuer", kind)
		owners := crt.GetOwnerReferences()
		require.Len(t, owners, 1)
		assert.Equal(t, "Ingress", owners[0].Kind)
		assert.Equal(t, release, owners[0].Name)

		client := route.client(true)
		resp, err := client.Get(route.url("/"))
		require.NoError(t, err, "HTTPS with the chain verified against the CA and the host name")
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		leaf := resp.TLS.PeerCertificates[0]
		assert.Equal(t, []string{route.host}, leaf.DNSNames, "the certificate names the Ingress's host")
		assert.Equal(t, x509.ECDSA, leaf.PublicKeyAlgorithm, "the key algorithm the Ingress's cert-manager.io/private-key-algorithm asks for")
		require.NotEmpty(t, resp.TLS.VerifiedChains)
		chain := resp.TLS.VerifiedChains[0]
		assert.Equal(t, "ai-assistant test CA", chain[len(chain)-1].Subject.CommonName, "the chain ends at the stack's CA")
		secret, err := a.c.Clientset.CoreV1().Secrets(a.ns).Get(ctx, "api-tls", metav1.GetOptions{})
		require.NoError(t, err)
		block, _ := pem.Decode(secret.Data[corev1.TLSCertKey])
		require.NotNil(t, block, "the Secret holds a PEM certificate")
		assert.Equal(t, block.Bytes, leaf.Raw, "Traefik serves the certificate cert-manager wrote into the Secret")

		// The verification is real: without the CA, or for another name, it fails.
		err = getErr(&http.Client{Transport: route.transport(false, nil), Timeout: 5 * time.Second}, route.url("/"))
		var unknown x509.UnknownAuthorityError
		assert.ErrorAs(t, err, &unknown, "a client without the stack's CA refuses the certificate")
		other := &ingressRoute{stack: route.stack, host: "other-" + route.host}
		var refused *tls.CertificateVerificationError
		assert.ErrorAs(t, getErr(other.client(false), other.url("/")), &refused, "a host with no Ingress gets no certificate for its name")

		// Plain HTTP is redirected to HTTPS, permanently and with the method kept.
		resp, err = client.Get("http://" + route.host + "/v1/chat/completions")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusPermanentRedirect, resp.StatusCode)
		assert.Equal(t, "https://"+route.host+"/v1/chat/completions", resp.Header.Get("Location"))
		assert.Empty(t, resp.Header.Get("X-App-Color"), "the redirect comes from the ingress, not the app")
	})

	t.Run("preview", func(t *testing.T) {
		a.t = t
		active := a.activeColor()
		idle := map[string]string{"blue": "green", "green": "blue"}[active]
		preview := &ingressRoute{stack: route.stack, host: spec.previewHost}
		preview.waitServing(t, "/ready", 2*time.Minute)
		client := preview.client(true)
		const n = 40
		seen := map[string]int{}
		for range n {
			code, color, _ := preview.get(t, client, preview.url("/"))
			require.Equal(t, http.StatusOK, code)
			seen[color]++
			code, color, _ = route.get(t, client, route.url("/"))
			require.Equal(t, http.StatusOK, code)
			seen["main:"+color]++
		}
		assert.Equal(t, map[string]int{idle: n, "main:" + active: n}, seen, "the preview host reaches the idle colour only, the main host the active one")

		resp, err := client.Get(preview.url("/"))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, []string{spec.previewHost}, resp.TLS.PeerCertificates[0].DNSNames, "the preview host has a certificate of its own")

		// ssl-redirect "false" on the preview Ingress: plain HTTP is served, from the idle colour.
		code, color, _ := preview.get(t, client, "http://"+spec.previewHost+"/")
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, idle, color)
	})
}

// TestIngressSeedAnnotations: what Traefik's NGINX provider does with the seed's
// `proxy-body-size: 50m` and `proxy-read-timeout: "300"`, which it does not read. On the main
// Ingress (the seed's values) a 40 MB POST reaches the app and is answered, a body over 50 MB
// is refused by the app itself (its 413 carries the app's headers; ingress-nginx would refuse
// it before the app), and a chat answer slower than 60 s (nginx's default read timeout, which
// the seed raises) arrives. The preview Ingress sets both annotations far lower (1m, 5 s) and
// still passes a 2 MB body and the same slow answer: the provider ignores them, and the
// limits are Traefik's defaults (no body limit, no response timeout).
func TestIngressSeedAnnotations(t *testing.T) {
	parallel(t)
	spec := newIngressSpec("both")
	spec.previewHost = "preview-" + spec.host
	spec.previewAnnotations = map[string]any{
		"nginx.ingress.kubernetes.io/proxy-body-size":    "1m",
		"nginx.ingress.kubernetes.io/proxy-read-timeout": "5",
	}
	a, route := ingressApp(t, spec)
	preview := &ingressRoute{stack: route.stack, host: spec.previewHost}
	preview.waitServing(t, "/ready", 2*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// chat posts a chat completion of size bytes: a valid request padded with whitespace
	// inside the JSON object, which the app reads whole (its limit is the seed's 50 MiB) and
	// forwards compacted, so the stand-in answers as to a small one.
	chat := func(r *ingressRoute, size int, timeout time.Duration) (res chatResult) {
		prefix := `{"messages":[{"role":"user","content":"large body"}]`
		body := io.MultiReader(strings.NewReader(prefix), io.LimitReader(spaces{}, int64(size-len(prefix)-1)), strings.NewReader("}"))
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url("/v1/chat/completions"), body)
		if err != nil {
			res.err = err
			return res
		}
		req.ContentLength = int64(size)
		req.Header.Set("Content-Type", "application/json")
		client := r.client(false)
		client.Timeout = timeout
		began := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			res.err = fmt.Errorf("POST %d bytes to %s: %w", size, r.host, err)
			return res
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res = chatResult{host: r.host, code: resp.StatusCode, color: resp.Header.Get("X-App-Color"), body: string(b), took: time.Since(began), err: err}
		return res
	}
	active := a.activeColor()

	t.Run("body", func(t *testing.T) {
		a.t = t
		res := chat(route, 40<<20, time.Minute)
		require.NoError(t, res.err)
		assert.Equal(t, http.StatusOK, res.code, "40 MiB through the main Ingress: %s", res.body)
		assert.Equal(t, active, res.color)
		assert.Contains(t, res.body, "echo: large body")
		t.Logf("40 MiB POST through the ingress: %d in %s", res.code, res.took.Round(time.Millisecond))

		res = chat(route, 51<<20, time.Minute)
		require.NoError(t, res.err)
		assert.Equal(t, http.StatusRequestEntityTooLarge, res.code, "51 MiB: the app's own limit (%s)", res.body)
		assert.Equal(t, active, res.color, "the 413 is the app's: the ingress passed the body on")

		res = chat(preview, 2<<20, time.Minute)
		require.NoError(t, res.err)
		assert.Equal(t, http.StatusOK, res.code, "2 MiB through the preview Ingress, whose proxy-body-size is 1m: %s", res.body)
		assert.NotEmpty(t, res.color)
	})

	t.Run("slow answer", func(t *testing.T) {
		a.t = t
		const latency = 65 * time.Second
		a.standin(ctx, "", map[string]any{"chatLatency": latency.String()})
		defer a.standin(context.Background(), "", map[string]any{})
		// Both at once: the main Ingress (the seed's 300 s) and the preview (5 s).
		results := make(chan chatResult, 2)
		for _, r := range []*ingressRoute{route, preview} {
			go func() { results <- chat(r, 1<<10, 2*time.Minute) }()
		}
		for range 2 {
			res := <-results
			require.NoError(t, res.err)
			assert.Equal(t, http.StatusOK, res.code, "%s: a chat answer after %s: %s", res.host, latency, res.body)
			assert.GreaterOrEqual(t, res.took, latency, "%s: the answer really took the stand-in's latency", res.host)
			t.Logf("%s: %d after %s", res.host, res.code, res.took.Round(time.Millisecond))
		}
	})
}

// TestIngressCutoverUnderLoad is TestCutoverUnderLoad through the Ingress over HTTPS: 200
// requests/s to the release's host on Traefik's HTTPS node port with keep-alive connections
// and, at the same time, 200 requests/s with a fresh TLS connection per request, while bluegreen deploys and rolls back four
// times (five switches) and the seed's selector patch goes there and back. Every request must
// succeed. Traefik routes to the endpoints of the main Service, not through kube-proxy, so
// the switch latency is its: the EndpointSlice update, its watch, and its configuration
// throttle (2 s by default); each switch waits until the load has moved before the next.
func TestIngressCutoverUnderLoad(t *testing.T) {
	heavy(t)
	a, _ := ingressApp(t, newIngressSpec("ingressClassName"))
	cutoverUnderLoad(t, a, "ingress, ")
}

// getErr is the error of a GET, the body closed when there is one.
func getErr(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

// chatResult is one chat request through an Ingress.
type chatResult struct {
	host, color, body string
	code              int
	took              time.Duration
	err               error
}

// spaces reads as an endless run of blanks.
type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}
