//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/helm"
	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/cli"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/cluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/demo"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/loadgen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stack"
)

// The application suites share one cluster with the images loaded once; each test gets its
// own namespace with its own PostgreSQL, Redis and LLM stand-in, and installs the chart
// with the helm CLI, as users do. They run side by side, each release's main Service on its
// own loopback node port (mainPorts).

const release = "ai-assistant"

var (
	repoRoot = func() string {
		_, file, _, _ := runtime.Caller(0)
		return filepath.Join(filepath.Dir(file), "..", "..")
	}()
	chartDir = filepath.Join(repoRoot, "charts", "ai-assistant")

	suiteOnce    sync.Once
	suiteCluster *cluster.Cluster
	suiteImages  stack.Images
	suiteErr     error
)

// appCluster returns the shared cluster with every image of the stack loaded into its nodes,
// and puts the pinned helm and the cluster's own kubectl first on PATH for terratest.
func appCluster(t *testing.T) (*cluster.Cluster, stack.Images) {
	t.Helper()
	suiteOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
		defer cancel()
		logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, "    "+f+"\n", a...) }
		if suiteImages, suiteErr = stack.EnsureImages(ctx, repoRoot, logf); suiteErr != nil {
			return
		}
		if suiteCluster, suiteErr = cluster.Ensure(ctx, cluster.Options{Logger: logf, RepoRoot: repoRoot}); suiteErr != nil {
			return
		}
		// A demo left running holds the node ports every test release needs.
		logf("removing namespace %s if `make demo` left it (its node ports are the tests')", demo.DefaultNamespace)
		if suiteErr = demo.RemoveNamespace(ctx, suiteCluster, demo.DefaultNamespace); suiteErr != nil {
			return
		}
		if suiteErr = suiteCluster.LoadImageArchives(ctx, suiteImages.Tarballs()...); suiteErr != nil {
			return
		}
		// The cutover command checks node.status.images, which the kubelet refreshes on its
		// own schedule: wait until every node reports the server images.
		if suiteErr = waitNodesReport(ctx, suiteCluster, suiteImages); suiteErr != nil {
			return
		}
		suiteErr = os.Setenv("PATH", strings.Join([]string{filepath.Join(repoRoot, "bin"), filepath.Dir(suiteCluster.Kubectl), os.Getenv("PATH")}, string(os.PathListSeparator)))
	})
	require.NoError(t, suiteErr, "set up the cluster and images (hack/cluster.sh up shows the build)")
	if _, err := os.Stat(filepath.Join(repoRoot, "bin", "helm")); err != nil {
		t.Fatalf("bin/helm missing: run `make tools` (%v)", err)
	}
	return suiteCluster, suiteImages
}

// waitNodesReport waits, bounded, until every node lists every server image in its status.
func waitNodesReport(ctx context.Context, c *cluster.Cluster, imgs stack.Images) error {
	var missing string
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		nodes, err := c.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, n := range nodes.Items {
			have := map[string]bool{}
			for _, img := range n.Status.Images {
				for _, name := range img.Names {
					have[name[strings.LastIndex(name, "/")+1:]] = true
				}
			}
			for _, v := range stack.Versions {
				if ref := imgs.Server[v].Ref; !have[ref] {
					missing = fmt.Sprintf("%s on node %s", ref, n.Name)
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("nodes never reported %s in their status: %w", missing, err)
	}
	return nil
}

// app is one release of the chart in its own namespace, with its dependencies.
type app struct {
	t       *testing.T
	c       *cluster.Cluster
	images  stack.Images
	ns      string
	port    int // the main Service's node port, mapped to the same port on 127.0.0.1
	deps    stack.Dependencies
	kubectl *k8s.KubectlOptions
	helm    *helm.Options
	// ingress, when set, makes load go through the release's Ingress over HTTPS instead of
	// the main Service's node port (ingress_test.go).
	ingress *ingressRoute
}

// mainPorts are the node ports the shared cluster maps to 127.0.0.1 that a release's main
// Service may take, one per test running at once (hack/test.sh runs up to four). 30083-30085
// are the cluster tests' own; 30090-30099 are left to the harnesses.
var mainPorts = func() chan int {
	list := []int{30080, 30081, 30082, 30086, 30087, 30088, 30089}
	ports := make(chan int, len(list))
	for _, p := range list {
		ports <- p
	}
	return ports
}()

// newApp installs a release on the shared cluster with stack.Values plus extra values (see
// newAppOn). Its main Service takes a free port of mainPorts, given back once the Service is
// gone; its preview Service is a ClusterIP one, so that releases never share a node port.
func newApp(t *testing.T, extra map[string]any) *app {
	t.Helper()
	return newAppSet(t, extra, nil)
}

// newAppSet is newApp with --set values too, which merge into stack.Values' maps instead of
// replacing a top-level key ("config.PROMETHEUS_ENABLED": "false").
func newAppSet(t *testing.T, extra map[string]any, sets map[string]string) *app {
	t.Helper()
	c, imgs := appCluster(t)
	port := takeMainPort(t, c) // registered first: given back after a.cleanup
	values := map[string]any{"previewService": map[string]any{"type": "ClusterIP"}}
	maps.Copy(values, extra)
	return newAppOn(t, appSetup{cluster: c, images: imgs, values: values, sets: sets, port: port})
}

// appSetup says where newAppOn installs a release and how.
type appSetup struct {
	cluster *cluster.Cluster
	images  stack.Images
	values  map[string]any    // top-level keys replacing those of stack.Values
	sets    map[string]string // --set values of the install, over both
	port    int               // the main Service's node port; 127.0.0.1 must map it
	depOpts []stack.PodOption // placement of the dependencies
	chart   string            // what `helm install` installs (default: the chart in the checkout)
	install []string          // extra `helm install` arguments (--version, --verify, ...)
	helm4   bool              // install with Helm 4 (server-side apply, its default) instead of Helm 3
}

// newAppOn creates a namespace that enforces Pod Security "restricted" (its deletion is
// registered first), deploys the dependencies and installs the chart.
func newAppOn(t *testing.T, s appSetup) *app {
	t.Helper()
	c := s.cluster
	a := &app{t: t, c: c, images: s.images, ns: createTestNamespace(t, c, "app"), port: s.port}
	a.kubectl = k8s.NewKubectlOptions("", c.KubeconfigPath, a.ns)
	t.Cleanup(a.cleanup)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var err error
	// The release installs while its dependencies start: its pods are Ready once they answer.
	a.deps, err = stack.CreateDependencies(ctx, c.Clientset, a.ns, s.images, s.depOpts...)
	require.NoError(t, err, "create PostgreSQL, Redis and the LLM stand-in")

	vals := stack.Values(a.deps, stack.Versions[0])
	vals["service"].(map[string]any)["nodePort"] = s.port
	// metrics-server runs in the shared cluster (autoscaling_test.go): the HPA holds the scale
	// it finds between min and max, as it did with no metrics, so that one test's load does not
	// resize its release under its assertions. A test that sets autoscaling decides itself.
	vals["autoscaling"].(map[string]any)["behavior"] = map[string]any{
		"scaleUp":   map[string]any{"selectPolicy": "Disabled"},
		"scaleDown": map[string]any{"selectPolicy": "Disabled"},
	}
	for k, v := range s.values {
		vals[k] = v
	}
	valuesFile := filepath.Join(t.TempDir(), "values.yaml")
	require.NoError(t, stack.WriteValues(valuesFile, vals))
	a.helm = &helm.Options{
		KubectlOptions: a.kubectl,
		ValuesFiles:    []string{valuesFile},
		SetValues:      s.sets,
		ExtraArgs: map[string][]string{
			"install": append([]string{"--wait", "--timeout", "5m"}, s.install...),
		},
	}
	chart := s.chart
	if chart == "" {
		chart = chartDir
	}
	began := time.Now()
	by := "Helm 3"
	if s.helm4 {
		by = "Helm 4"
		args := append([]string{"install", release, chart, "-f", valuesFile}, a.helm.ExtraArgs["install"]...)
		for k, v := range s.sets {
			args = append(args, "--set", k+"="+v)
		}
		out, err := a.helm4(args...)
		require.NoError(t, err, "helm4 install:\n%s", lastLines(out, 20))
	} else {
		helm.Install(t, a.helm, chart, release)
	}
	t.Logf("installed %s in %s with %s in %s", release, a.ns, by, time.Since(began).Round(100*time.Millisecond))
	require.NoError(t, stack.WaitDependencies(ctx, c.Clientset, a.ns, 3*time.Minute), "PostgreSQL, Redis and the LLM stand-in")
	a.waitServing("active", a.port, 2*time.Minute)
	return a
}

func (a *app) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs := a.c.Clientset
	if a.t.Failed() {
		dir := filepath.Join(repoRoot, ".cache", "kind", "logs", a.t.Name())
		if err := a.c.ExportLogs(dir); err != nil {
			a.t.Logf("export logs: %v", err)
		} else {
			a.t.Logf("cluster logs in %s", dir)
		}
		// The logs hold no API objects: what the release's Deployments, ReplicaSets, pods and
		// HPAs reported is what tells why a wait did not end.
		objects, err := exec.CommandContext(ctx, a.c.Kubectl, "--kubeconfig", a.c.KubeconfigPath, "-n", a.ns,
			"get", "deployments,replicasets,pods,services,endpointslices,hpa,events", "-o", "yaml").Output()
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "objects-"+a.ns+".yaml"), objects, 0o644)
		}
		if err != nil {
			a.t.Logf("write the objects of %s: %v", a.ns, err)
		}
	}
	// The next test's Services need these node ports, and deleting a Service frees them at
	// once; the namespace's pods then drain on their own (their grace periods took ~40 s per
	// test when the suite waited for them).
	svcs, err := cs.CoreV1().Services(a.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		a.t.Errorf("list Services of %s: %v", a.ns, err)
		return
	}
	for _, s := range svcs.Items {
		if err := cs.CoreV1().Services(a.ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			a.t.Errorf("delete Service %s/%s: %v", a.ns, s.Name, err)
		}
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, a.ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		a.t.Errorf("delete namespace %s: %v", a.ns, err)
	}
}

// url is the loopback address of a Service's node port.
func url(nodePort int, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", nodePort, path)
}

// waitServing polls a Service's /ready on loopback until it answers 200, bounded.
func (a *app) waitServing(what string, nodePort int, timeout time.Duration) {
	a.t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		resp, err := client.Get(url(nodePort, "/ready"))
		if err != nil {
			last = err.Error()
			return false, nil
		}
		resp.Body.Close()
		last = resp.Status
		return resp.StatusCode == http.StatusOK, nil
	})
	require.NoError(a.t, err, "%s Service on 127.0.0.1:%d never answered /ready 200 (last: %s)", what, nodePort, last)
}

// bluegreen runs the cutover command in-process, exactly as `go run ./hack/bluegreen` would,
// and returns its exit code and JSON result.
func (a *app) bluegreen(ctx context.Context, args ...string) (int, map[string]any, string) {
	a.t.Helper()
	full := append([]string{"--kubeconfig", a.c.KubeconfigPath, "-n", a.ns, "-o", "json"}, args...)
	full = append(full, release)
	var stdout, stderr bytes.Buffer
	began := time.Now()
	code := cli.Main(ctx, full, &stdout, &stderr, cli.ConnectCluster)
	var res map[string]any
	_ = json.Unmarshal(stdout.Bytes(), &res)
	a.t.Logf("bluegreen %s (started %s) -> exit %d\n%s", strings.Join(args, " "), began.UTC().Format("15:04:05.000"), code, lastLines(stderr.String(), 15))
	return code, res, stdout.String() + stderr.String()
}

// fastGates are gate flags sized for a test: the same checks, shorter waits.
var fastGates = []string{"--gate-passes", "3", "--gate-interval", "500ms", "--verify-for", "5s", "--drain-timeout", "60s", "--timeout", "3m"}

// activeColor is the release's activeColor value as Helm stores it.
func (a *app) activeColor() string {
	a.t.Helper()
	out, err := helm.RunHelmCommandAndGetStdOutE(a.t, a.helm, "get", "values", release, "--all", "-o", "json")
	require.NoError(a.t, err)
	var v struct {
		ActiveColor string `json:"activeColor"`
	}
	require.NoError(a.t, json.Unmarshal([]byte(out), &v))
	return v.ActiveColor
}

// revision is the release's current revision.
func (a *app) revision() int {
	a.t.Helper()
	out, err := helm.RunHelmCommandAndGetStdOutE(a.t, a.helm, "status", release, "-o", "json")
	require.NoError(a.t, err)
	var s struct {
		Version int `json:"version"`
	}
	require.NoError(a.t, json.Unmarshal([]byte(out), &s))
	return s.Version
}

// standin sets the LLM stand-in's behaviour for a scope ("" = default) through the API
// server's service proxy: traffic stays inside the cluster.
func (a *app) standin(ctx context.Context, scope string, behaviour map[string]any) {
	a.t.Helper()
	body, _ := json.Marshal(behaviour)
	req := a.c.Clientset.CoreV1().RESTClient().Post().Namespace(a.ns).Resource("services").
		Name(fmt.Sprintf("%s:%d", stack.StandinName, stack.StandinPort)).SubResource("proxy").Suffix("control").Body(body)
	if scope != "" {
		req = req.Param("scope", scope)
	}
	require.NoError(a.t, req.Do(ctx).Error(), "set stand-in behaviour %s", body)
}

// load runs the load generator against the main Service in the background; the returned
// function waits for it and returns the result.
func (a *app) load(ctx context.Context, keepAlive bool, d time.Duration) func() loadgen.Result {
	a.t.Helper()
	return a.loadObserved(ctx, keepAlive, d, nil)
}

// loadObserved is load with a hook that sees every request as it completes.
func (a *app) loadObserved(ctx context.Context, keepAlive bool, d time.Duration, observe func(loadgen.Sample)) func() loadgen.Result {
	t := a.t
	t.Helper()
	var (
		res loadgen.Result
		err error
		wg  sync.WaitGroup
	)
	target, client := url(a.port, "/"), (*http.Client)(nil)
	if a.ingress != nil {
		target, client = a.ingress.url("/"), a.ingress.client(keepAlive)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, err = loadgen.Run(ctx, loadgen.Options{
			URL:         target, // a user route: the cutover counts it, unlike probes
			Client:      client, // nil: loadgen's own, with keep-alive as asked
			Rate:        200,
			Duration:    d,
			MaxRequests: int(200 * d.Seconds() * 1.1),
			KeepAlive:   keepAlive,
			// A second's worth in flight: on a busy machine fresh connections take a few
			// hundred milliseconds, and the rate must not fall for want of workers.
			Concurrency: 200,
			Timeout:     5 * time.Second,
			Headers:     loadgen.DefaultHeaders,
			OnSample:    observe,
		})
	}()
	return func() loadgen.Result {
		wg.Wait()
		require.NoError(t, err, "load run")
		var b strings.Builder
		res.Summary(&b)
		t.Logf("load (keep-alive=%v):\n%s", keepAlive, b.String())
		return res
	}
}

// kubectlRun runs the cluster's own kubectl against the test namespace.
func (a *app) kubectlRun(args ...string) string {
	a.t.Helper()
	out, err := k8s.RunKubectlAndGetOutputE(a.t, a.kubectl, args...)
	require.NoError(a.t, err, "kubectl %s: %s", strings.Join(args, " "), out)
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
