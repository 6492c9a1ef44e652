package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/kindnode"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/progress"
)

// KubeAPI is a Kubernetes control plane owned by one test: etcd, kube-apiserver and
// kube-controller-manager on loopback, as controller-runtime's envtest starts them, but with the
// binaries the node-image build compiles (kindnode.ControlPlaneBinaries) and with the
// controllers that act on Deployments, Services and autoscalers running. No scheduler and no
// kubelet run: pods stay Pending until the test binds them and reports their status.
type KubeAPI struct {
	// Kubeconfig is an admin kubeconfig (group system:masters) under t.TempDir().
	Kubeconfig string
	// Config is the REST config that kubeconfig gives.
	Config *rest.Config
	// Client is a clientset for Config.
	Client kubernetes.Interface

	etcd, apiserver, controllerManager *process
}

// KubeAPIServiceCIDR is the range the API server allocates ClusterIPs from.
const KubeAPIServiceCIDR = "10.96.0.0/16"

// kubeControllers are the kube-controller-manager's controllers the tests need: Deployments
// make ReplicaSets make pods, Services get endpoints, autoscalers scale, owners' deletions
// cascade, namespaces can be deleted, and each namespace gets its default ServiceAccount.
var kubeControllers = []string{
	"deployment-controller", "replicaset-controller", "endpoints-controller", "endpointslice-controller",
	"horizontal-pod-autoscaler-controller", "garbage-collector-controller", "namespace-controller", "serviceaccount-controller",
}

// StartKubeAPI builds (or finds, by their stamps) the control-plane binaries, starts etcd,
// kube-apiserver and kube-controller-manager on free loopback ports with their data and
// certificates under t.TempDir(), waits until each is ready and stops them in t.Cleanup.
func StartKubeAPI(t testing.TB) *KubeAPI {
	t.Helper()
	start := time.Now()
	logf := progress.Since(start, func(format string, args ...any) { t.Logf("kubeapi "+format, args...) })
	bins := controlPlaneBinaries(t)
	dir := t.TempDir()
	pki := newKubePKI(t, dir)

	k := &KubeAPI{}
	etcdPort, peerPort := FreePort(t), FreePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	k.etcd = &process{
		t: t, name: "etcd", port: etcdPort, logPath: filepath.Join(dir, "etcd.log"),
		argv: []string{bins.Etcd, "--name", "test", "--data-dir", filepath.Join(dir, "etcd"),
			"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", "test=" + peerURL,
			// A test's data dies with it: no fsync, which the shared disk makes slow.
			"--unsafe-no-fsync", "--log-level", "warn"},
		stopSignal:   syscall.SIGTERM,
		readyTimeout: 30 * time.Second,
		ping:         httpOK(http.DefaultClient, etcdURL+"/health"),
	}
	t.Cleanup(func() { k.etcd.Stop(t) }) // registered first: stopped last
	k.etcd.Start(t)
	logf("etcd ready on %s (%s)", etcdURL, bins.Etcd)

	apiPort := FreePort(t)
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	k.Kubeconfig = filepath.Join(dir, "kubeconfig")
	k.Config = pki.writeKubeconfig(t, k.Kubeconfig, server)
	var err error
	if k.Client, err = kubernetes.NewForConfig(k.Config); err != nil {
		t.Fatalf("build a client for %s: %v", server, err)
	}
	k.apiserver = &process{
		t: t, name: "kube-apiserver", port: apiPort, logPath: filepath.Join(dir, "kube-apiserver.log"),
		argv: []string{bins.KubeAPIServer,
			"--etcd-servers", etcdURL,
			"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", itoa(apiPort),
			"--tls-cert-file", pki.serving.cert, "--tls-private-key-file", pki.serving.key,
			"--client-ca-file", pki.ca.cert,
			"--authorization-mode", "RBAC",
			"--service-cluster-ip-range", KubeAPIServiceCIDR,
			// No endpoints for the default/kubernetes Service: nothing in a test dials it, and
			// the reconciler refuses a loopback address.
			"--endpoint-reconciler-type", "none",
			"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file", pki.serviceAccount.cert,
			"--service-account-signing-key-file", pki.serviceAccount.key,
			"--profiling=false", "--v=1"},
		stopSignal:   syscall.SIGTERM,
		readyTimeout: 90 * time.Second, // RBAC's bootstrap roles and the priority-and-fairness objects are written first
		ping:         readyz(k.Client.Discovery().RESTClient()),
	}
	t.Cleanup(func() { k.apiserver.Stop(t) })
	k.apiserver.Start(t)
	logf("kube-apiserver ready on %s (%s)", server, bins.KubeAPIServer)

	kcmPort := FreePort(t)
	k.controllerManager = &process{
		t: t, name: "kube-controller-manager", port: kcmPort, logPath: filepath.Join(dir, "kube-controller-manager.log"),
		argv: []string{bins.KubeControllerManager,
			"--kubeconfig", k.Kubeconfig,
			// No delegated authentication or authorisation: only /healthz is asked for, which
			// is always allowed.
			"--bind-address", "127.0.0.1", "--secure-port", itoa(kcmPort), "--cert-dir", filepath.Join(dir, "kcm-certs"),
			"--leader-elect=false",
			"--controllers", strings.Join(kubeControllers, ","),
			// The autoscaler's default pace is 15 s; tests wait on it.
			"--horizontal-pod-autoscaler-sync-period", "1s",
			"--profiling=false", "--v=1"},
		stopSignal:   syscall.SIGTERM,
		readyTimeout: 60 * time.Second,
		ping:         httpOK(insecureLoopback(), fmt.Sprintf("https://127.0.0.1:%d/healthz", kcmPort)),
	}
	t.Cleanup(func() { k.controllerManager.Stop(t) })
	k.controllerManager.Start(t)
	logf("kube-controller-manager ready (controllers %s)", strings.Join(kubeControllers, ","))
	t.Cleanup(func() { logf("stopping the control plane") })
	return k
}

// LogTails returns the end of each process's log, for a failure message.
func (k *KubeAPI) LogTails() string {
	var b strings.Builder
	for _, p := range []*process{k.etcd, k.apiserver, k.controllerManager} {
		if p != nil {
			fmt.Fprintf(&b, "--- %s (%s)\n%s\n", p.name, p.logPath, p.logTail())
		}
	}
	return b.String()
}

// controlPlaneBinaries asks the node-image build's cache for the binaries: a warm cache answers
// at once, a cold one builds them (minutes), printing each step.
func controlPlaneBinaries(t testing.TB) kindnode.ControlPlane {
	t.Helper()
	root, err := kindnode.FindRepoRoot()
	if err != nil {
		t.Fatalf("find the repository root for the control-plane binaries: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	// The build's progress lines carry their own elapsed time.
	bins, err := kindnode.ControlPlaneBinaries(ctx, kindnode.Options{RepoRoot: root, Logf: func(format string, args ...any) { t.Logf("kubeapi: "+format, args...) }})
	if err != nil {
		t.Fatalf("build the control-plane binaries (go run ./hack/kindnode -control-plane shows the build's steps): %v", err)
	}
	return bins
}

// httpOK is ready once GET url answers 200.
func httpOK(c *http.Client, url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		}
		return nil
	}
}

// readyz is ready once the API server's /readyz passes: storage, RBAC's bootstrap policy and
// every other post-start hook are done.
func readyz(c rest.Interface) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		body, err := c.Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("GET /readyz: %w: %s", err, body)
		}
		return nil
	}
}

// insecureLoopback is a client for the kube-controller-manager's health endpoint, whose
// self-signed serving certificate it writes itself.
func insecureLoopback() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback, a certificate the process made up
}

// kubePKI is the control plane's certificates: a CA, the API server's serving certificate, an
// admin client certificate and the service-account signing key, as PEM files.
type kubePKI struct {
	ca, serving, admin, serviceAccount pemPair
	caCert                             *x509.Certificate
	caKey                              *ecdsa.PrivateKey
}

// pemPair is a certificate (or public key) file and its private key file.
type pemPair struct{ cert, key string }

func newKubePKI(t testing.TB, dir string) *kubePKI {
	t.Helper()
	dir = filepath.Join(dir, "pki")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatalf("create pki directory: %v", err)
	}
	p := &kubePKI{}
	var err error
	if p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatalf("generate CA key: %v", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "testenv-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatalf("create CA certificate: %v", err)
	}
	if p.caCert, err = x509.ParseCertificate(der); err != nil {
		t.Fatalf("parse CA certificate: %v", err)
	}
	p.ca = writePair(t, dir, "ca", der, p.caKey)
	p.serving = p.issue(t, dir, "apiserver", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
	})
	p.admin = p.issue(t, dir, "admin", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "testenv-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate service-account key: %v", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		t.Fatalf("marshal service-account public key: %v", err)
	}
	p.serviceAccount = pemPair{cert: filepath.Join(dir, "sa.pub"), key: filepath.Join(dir, "sa.key")}
	writePEM(t, p.serviceAccount.cert, "PUBLIC KEY", pub)
	writeKey(t, p.serviceAccount.key, saKey)
	return p
}

// issue signs tmpl with the CA and writes it beside a new key.
func (p *kubePKI) issue(t testing.TB, dir, name string, tmpl *x509.Certificate) pemPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate %s key: %v", name, err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatalf("serial for %s: %v", name, err)
	}
	now := time.Now()
	tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = serial, now.Add(-time.Hour), now.Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatalf("sign %s certificate: %v", name, err)
	}
	return writePair(t, dir, name, der, key)
}

func writePair(t testing.TB, dir, name string, der []byte, key *ecdsa.PrivateKey) pemPair {
	t.Helper()
	pair := pemPair{cert: filepath.Join(dir, name+".crt"), key: filepath.Join(dir, name+".key")}
	writePEM(t, pair.cert, "CERTIFICATE", der)
	writeKey(t, pair.key, key)
	return pair
}

func writeKey(t testing.TB, path string, key *ecdsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("marshal key %s: %v", path, err)
	}
	writePEM(t, path, "EC PRIVATE KEY", der)
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// writeKubeconfig writes an admin kubeconfig for server, with the certificates inline, and
// returns its REST config.
func (p *kubePKI) writeKubeconfig(t testing.TB, path, server string) *rest.Config {
	t.Helper()
	read := func(f string) []byte {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		return b
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testenv"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: read(p.ca.cert)}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: read(p.admin.cert), ClientKeyData: read(p.admin.key)}
	cfg.Contexts["testenv"] = &clientcmdapi.Context{Cluster: "testenv", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "testenv"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatalf("write kubeconfig %s: %v", path, err)
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		t.Fatalf("load kubeconfig %s: %v", path, err)
	}
	rc.QPS, rc.Burst = 100, 200 // the tests' watches and writes, not client-go's 5/s
	return rc
}
