//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/helm"
	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
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
// with the helm CLI, as users do. They run one after another: every release uses the same
// loopback node ports.

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
	deps    stack.Dependencies
	kubectl *k8s.KubectlOptions
	helm    *helm.Options
}

// newApp creates a namespace that enforces Pod Security "restricted" (its deletion is
// registered first, and waited for, because the next test reuses the node ports), deploys
// the dependencies and installs the chart with stack.Values plus extra values.
func newApp(t *testing.T, extra map[string]any) *app {
	t.Helper()
	c, imgs := appCluster(t)
	a := &app{t: t, c: c, images: imgs, ns: "app-" + strings.ToLower(random.UniqueId())}
	a.kubectl = k8s.NewKubectlOptions("", c.KubeconfigPath, a.ns)
	t.Cleanup(a.cleanup)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := c.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: a.ns,
		Labels: map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted",
			"pod-security.kubernetes.io/warn":    "restricted",
		},
	}}, metav1.CreateOptions{})
	require.NoError(t, err, "create namespace")
	a.deps, err = stack.DeployDependencies(ctx, c.Clientset, a.ns, imgs, 3*time.Minute)
	require.NoError(t, err, "deploy PostgreSQL, Redis and the LLM stand-in")

	vals := stack.Values(a.deps, stack.Versions[0])
	for k, v := range extra {
		vals[k] = v
	}
	valuesFile := filepath.Join(t.TempDir(), "values.yaml")
	require.NoError(t, stack.WriteValues(valuesFile, vals))
	a.helm = &helm.Options{
		KubectlOptions: a.kubectl,
		ValuesFiles:    []string{valuesFile},
		ExtraArgs: map[string][]string{
			"install": {"--wait", "--timeout", "5m"},
		},
	}
	began := time.Now()
	helm.Install(t, a.helm, chartDir, release)
	t.Logf("installed %s in %s in %s", release, a.ns, time.Since(began).Round(100*time.Millisecond))
	a.waitServing("active", stack.ActiveNodePort, 2*time.Minute)
	return a
}

func (a *app) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs := a.c.Clientset
	if a.t.Failed() {
		dir := filepath.Join(repoRoot, ".cache", "kind", "logs", a.t.Name())
		if err := a.c.ExportLogs(dir); err != nil {
			a.t.Logf("export logs: %v", err)
		} else {
			a.t.Logf("cluster logs in %s", dir)
		}
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, a.ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		a.t.Logf("delete namespace %s: %v", a.ns, err)
		return
	}
	// The next test's Services need these node ports: wait until the namespace is gone.
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, a.ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		a.t.Logf("namespace %s still terminating: %v", a.ns, err)
	}
}

// url is the loopback address of the main (30080) or preview (30081) Service.
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
	code := cli.Main(ctx, full, &stdout, &stderr, cli.ConnectCluster)
	var res map[string]any
	_ = json.Unmarshal(stdout.Bytes(), &res)
	a.t.Logf("bluegreen %s -> exit %d\n%s", strings.Join(args, " "), code, lastLines(stderr.String(), 15))
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
func load(ctx context.Context, t *testing.T, keepAlive bool, d time.Duration) func() loadgen.Result {
	t.Helper()
	var (
		res loadgen.Result
		err error
		wg  sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, err = loadgen.Run(ctx, loadgen.Options{
			URL:         url(stack.ActiveNodePort, "/"), // a user route: the cutover counts it, unlike probes
			Rate:        200,
			Duration:    d,
			MaxRequests: int(200 * d.Seconds() * 1.1),
			KeepAlive:   keepAlive,
			Timeout:     5 * time.Second,
			Headers:     loadgen.DefaultHeaders,
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
