//go:build integration

package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/cluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/retry"
)

// clusterTestServer answers every request with its pod's and node's names, so a test can
// tell which pod (and node) a Service sent it to. It has no dependencies: it builds as a
// static binary.
const clusterTestServer = `package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	host, _ := os.Hostname()
	node := os.Getenv("NODE_NAME")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pod=%s node=%s\n", host, node)
	})
	// /get?ip=A fetches / from the pod at A, to show pod-to-pod traffic across nodes. Only
	// pod-network addresses are allowed: traffic stays inside the cluster.
	_, pods, _ := net.ParseCIDR("10.244.0.0/16")
	client := &http.Client{Timeout: 2 * time.Second}
	http.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		ip := net.ParseIP(r.URL.Query().Get("ip"))
		if ip == nil || !pods.Contains(ip) {
			http.Error(w, "ip must be a pod address", http.StatusBadRequest)
			return
		}
		resp, err := client.Get("http://" + net.JoinHostPort(ip.String(), "8080") + "/")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		fmt.Fprintf(w, "from pod=%s node=%s got %s", host, node, b)
	})
	if err := http.ListenAndServe(":8080", nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

// clusterForTest gets the cluster for a test and exports its logs if the test fails.
func clusterForTest(t *testing.T, ctx context.Context, o cluster.Options) *cluster.Cluster {
	t.Helper()
	o.Logger = t.Logf
	began := time.Now()
	c, err := cluster.Ensure(ctx, o)
	if err != nil {
		t.Fatalf("get a kind cluster (run hack/cluster.sh up to see the build; it needs root, Docker and the Go module proxy): %v", err)
	}
	t.Logf("cluster %s ready in %s", c.Name, time.Since(began).Round(100*time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			dir := filepath.Join(filepath.Dir(c.KubeconfigPath), "logs", t.Name())
			if err := c.ExportLogs(dir); err != nil {
				t.Logf("export logs: %v", err)
			}
		}
	})
	return c
}

// clusterServerImage compiles clusterTestServer statically and writes a one-layer image tarball
// tagged ref, using go-containerregistry (no Docker build, no registry).
func clusterServerImage(t *testing.T, ctx context.Context, ref string) string {
	t.Helper()
	dir := t.TempDir()
	for n, content := range map[string]string{"main.go": clusterTestServer, "go.mod": "module clustertestserver\n\ngo 1.22\n"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", "server", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build test server: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "server"))
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := tw.WriteHeader(&tar.Header{Name: "server", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(bin); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer.Bytes())), nil })
	if err != nil {
		t.Fatalf("make image layer: %v", err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatalf("append image layer: %v", err)
	}
	img, err = mutate.Config(img, v1.Config{Entrypoint: []string{"/server"}, User: "65532:65532"})
	if err != nil {
		t.Fatalf("set image config: %v", err)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatalf("parse image reference %s: %v", ref, err)
	}
	path := filepath.Join(dir, "image.tar")
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatalf("write image tarball: %v", err)
	}
	return path
}

// clusterTestNamespace creates a uniquely named namespace and registers its deletion first.
func clusterTestNamespace(t *testing.T, ctx context.Context, cs kubernetes.Interface, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := prefix + "-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			t.Logf("delete namespace %s: %v", ns, err)
		}
	})
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	return ns
}

// clusterServerDeployment runs replicas of the test server image, spread one per node when spread.
func clusterServerDeployment(name, image string, replicas int32, spread bool) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	nonRoot := true
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &nonRoot},
					Containers: []corev1.Container{{
						Name:            "server",
						Image:           image,
						ImagePullPolicy: corev1.PullNever, // loaded into the nodes; there is no registry
						Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						Env: []corev1.EnvVar{{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{
							FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}},
							PeriodSeconds: 1,
						},
					}},
				},
			},
		},
	}
	if spread {
		// Honor taints: the tainted control plane is no domain to spread over, else it counts
		// with zero pods and caps each worker at one.
		honor := corev1.NodeInclusionPolicyHonor
		d.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: labels}, NodeTaintsPolicy: &honor,
		}}
	}
	return d
}

// clusterNodePortService exposes the server on nodePort.
func clusterNodePortService(name string, nodePort int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), NodePort: nodePort}},
		},
	}
}

// clusterWaitAvailable polls until the Deployment has all its replicas available.
func clusterWaitAvailable(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) *appsv1.Deployment {
	t.Helper()
	var last string
	var d *appsv1.Deployment
	err := clusterPoll(ctx, timeout, func() bool {
		var err error
		d, err = cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("%d/%d available", d.Status.AvailableReplicas, *d.Spec.Replicas)
		return d.Status.ObservedGeneration >= d.Generation && d.Status.AvailableReplicas == *d.Spec.Replicas
	})
	if err != nil {
		t.Fatalf("deployment %s/%s not available: %v (last: %s)", ns, name, err, last)
	}
	return d
}

// clusterGetUntilOK polls url until it answers 200, returning the body; each request is bounded.
func clusterGetUntilOK(t *testing.T, ctx context.Context, url string, timeout time.Duration) string {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	var body, last string
	attempts := 0
	err := clusterPoll(ctx, timeout, func() bool {
		attempts++
		resp, err := client.Get(url)
		if err != nil {
			last = err.Error()
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if resp.StatusCode != http.StatusOK {
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
			return false
		}
		body = string(b)
		return true
	})
	if err != nil {
		t.Fatalf("GET %s never answered 200 in %d attempts: %v (last: %s)", url, attempts, err, last)
	}
	return body
}

// clusterPoll calls ok every 500 ms until it returns true or timeout passes.
func clusterPoll(ctx context.Context, timeout time.Duration, ok func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := retry.Poll(ctx, 500*time.Millisecond, func(context.Context) (bool, error) { return ok(), nil }); err != nil {
		return fmt.Errorf("gave up after %s", timeout)
	}
	return nil
}
