// Package demo is `make demo`: on the project's kind cluster it installs the chart beside
// real PostgreSQL, Redis and the LLM stand-in, cuts over from v1 to v2 with the health-gated
// command while 200 requests/s arrive on loopback, and reports what happened. The cluster
// and the release stay up for the user to explore.
package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/cli"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/cluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/ingress"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/loadgen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/monitoring"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stack"
)

// DefaultNamespace is where the demo installs (the seed's namespace). Its Services hold the
// loopback node ports the integration tests also use.
const DefaultNamespace = "ai-assistant"

// Options configure a demo run.
type Options struct {
	RepoRoot  string
	Namespace string // default "ai-assistant", the seed's
	Release   string // default "ai-assistant"
	// Rate and the load's bound; the load runs for the whole cutover.
	Rate float64
	Out  io.Writer
	// Ingress installs the ingress stack (Traefik serving class nginx, cert-manager with a CA
	// ClusterIssuer) and the chart's Ingress on IngressHost (`INGRESS=1 make demo`).
	Ingress bool
	// Monitoring installs the monitoring stack (prometheus-operator, Prometheus,
	// prometheus-adapter) and the chart's ServiceMonitor and PrometheusRule, and reports what
	// Prometheus saw of the cutover (`MONITORING=1 make demo`).
	Monitoring bool
}

// Run performs the demo and writes its progress and report to o.Out.
func Run(ctx context.Context, o Options) error {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Release == "" {
		o.Release = "ai-assistant"
	}
	if o.Rate == 0 {
		o.Rate = 200
	}
	began := time.Now()
	step := func(format string, a ...any) {
		fmt.Fprintf(o.Out, "==> [%4ds] %s\n", int(time.Since(began).Seconds()), fmt.Sprintf(format, a...))
	}
	detail := func(format string, a ...any) { fmt.Fprintf(o.Out, "    "+format+"\n", a...) }

	step("images: server %s, LLM stand-in, PostgreSQL and Redis (built when missing)", strings.Join(stack.Versions, ", "))
	imgs, err := stack.EnsureImages(ctx, o.RepoRoot, detail)
	if err != nil {
		return err
	}
	step("kind cluster (the offline node image is built when missing: ~15 min the first time)")
	c, err := cluster.Ensure(ctx, cluster.Options{RepoRoot: o.RepoRoot, Logger: detail})
	if err != nil {
		return err
	}
	step("loading %d images into the nodes", len(imgs.Tarballs()))
	if err := c.LoadImageArchives(ctx, imgs.Tarballs()...); err != nil {
		return err
	}

	if o.Monitoring {
		step("monitoring stack: prometheus-operator, Prometheus, prometheus-adapter in namespace %s", monitoring.StackNamespace)
		so, tarballs, err := monitoring.PrepareStack(ctx, o.RepoRoot, detail)
		if err != nil {
			return err
		}
		if err := c.LoadImageArchives(ctx, tarballs...); err != nil {
			return err
		}
		if err := monitoring.InstallStack(ctx, c.RESTConfig, so); err != nil {
			return err
		}
	}

	caPath := filepath.Join(o.RepoRoot, ".cache", "demo-ingress-ca.crt")
	if o.Ingress {
		step("ingress stack: Traefik (class %s) on 127.0.0.1:%d and :%d, cert-manager with ClusterIssuer %s", ingress.ClassName, ingress.HTTPNodePort, ingress.HTTPSNodePort, ingress.ClusterIssuer)
		if _, err := installIngress(ctx, o.RepoRoot, c, caPath, detail); err != nil {
			return err
		}
	}

	step("namespace %s (recreated: the demo starts clean)", o.Namespace)
	if err := recreateNamespace(ctx, c, o.Namespace); err != nil {
		return err
	}
	step("dependencies: PostgreSQL, Redis, LLM stand-in")
	deps, err := stack.DeployDependencies(ctx, c.Clientset, o.Namespace, imgs, 3*time.Minute)
	if err != nil {
		return err
	}

	helmBin := filepath.Join(o.RepoRoot, "bin", "helm")
	valuesFile := filepath.Join(o.RepoRoot, ".cache", "demo-values.yaml")
	vals := stack.Values(deps, stack.Versions[0])
	// The demo shows the chart's own readiness probe (every 5 s, failureThreshold 3): the
	// tests' one-failure probe lets the kubelet empty a failing colour's endpoints before the
	// post-switch check can switch back, which the cutover rightly warns of.
	delete(vals, "readinessProbe")
	if o.Ingress {
		vals["ingress"] = ingressValues()
	}
	if o.Monitoring {
		vals["metrics"] = monitoringValues()
	}
	if err := stack.WriteValues(valuesFile, vals); err != nil {
		return err
	}
	helm := func(args ...string) (string, error) {
		args = append(args, "--kubeconfig", c.KubeconfigPath, "-n", o.Namespace)
		out, err := exec.CommandContext(ctx, helmBin, args...).CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("helm %s: %w\n%s", args[0], err, out)
		}
		return string(out), nil
	}
	step("helm install %s %s (blue, %s)", o.Release, "charts/ai-assistant", stack.Versions[0])
	if _, err := helm("install", o.Release, filepath.Join(o.RepoRoot, "charts", "ai-assistant"), "-f", valuesFile, "--wait", "--timeout", "5m"); err != nil {
		return err
	}
	if err := waitReady(ctx, fmt.Sprintf("http://127.0.0.1:%d/ready", stack.ActiveNodePort)); err != nil {
		return err
	}
	if o.Monitoring {
		took, err := monitoring.WaitLoaded(ctx, c.RESTConfig, o.Namespace, 3*time.Minute)
		if err != nil {
			return err
		}
		detail("Prometheus loaded the release's ServiceMonitor and PrometheusRule in %s", took.Round(100*time.Millisecond))
	}

	step("cutover blue -> green (%s) under %.0f requests/s of keep-alive traffic on 127.0.0.1:%d", stack.Versions[1], o.Rate, stack.ActiveNodePort)
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	type loadOut struct {
		res loadgen.Result
		err error
	}
	done := make(chan loadOut, 1)
	go func() {
		res, err := loadgen.Run(loadCtx, loadgen.Options{
			URL: fmt.Sprintf("http://127.0.0.1:%d/", stack.ActiveNodePort), Rate: o.Rate,
			Duration: 10 * time.Minute, MaxRequests: int(o.Rate * 600), KeepAlive: true, Headers: loadgen.DefaultHeaders,
		})
		done <- loadOut{res, err}
	}()
	watch := stack.WatchSelector(c.Clientset, o.Namespace, o.Release)
	bgArgs := []string{"--kubeconfig", c.KubeconfigPath, "-n", o.Namespace}
	var bgOut bytes.Buffer
	code := cli.Main(ctx, append(bgArgs, "deploy", "--tag", stack.Versions[1], "--verify-for", "10s", o.Release), &bgOut, o.Out, cli.ConnectCluster)
	switches := watch.Stop()
	stopLoad()
	lo := <-done
	if lo.err != nil {
		return lo.err
	}
	fmt.Fprint(o.Out, bgOut.String())
	if code != 0 {
		return fmt.Errorf("bluegreen deploy exited %d", code)
	}

	history, _ := helm("history", o.Release)
	res := lo.res
	step("report")
	detail("requests: %d in %s (%.0f/s), non-2xx %d, transport errors %d", res.Total, res.Elapsed.Round(time.Second), res.RequestsPerSecond, res.Non2xx, res.TransportErrors)
	detail("served by colour: %v; by version: %v", res.Counts["X-App-Color"], res.Counts["X-App-Version"])
	for _, s := range switches {
		if lat, err := res.SwitchLatency(s.At, "X-App-Color", s.Color); err == nil {
			detail("switch to %s at %s: every later request served by %s after %s", s.Color, s.At.Format("15:04:05.000"), s.Color, lat.Round(time.Millisecond))
		} else {
			detail("switch to %s at %s: %v", s.Color, s.At.Format("15:04:05.000"), err)
		}
	}
	detail("latency p50 %s p99 %s", res.Latency.P50.Round(100*time.Microsecond), res.Latency.P99.Round(100*time.Microsecond))
	detail("helm history:\n%s", indent(history))
	if o.Monitoring {
		if err := reportMonitoring(ctx, c, o.Namespace, detail); err != nil {
			return err
		}
	}
	bg := fmt.Sprintf("go run ./hack/bluegreen --kubeconfig %s -n %s", c.KubeconfigPath, o.Namespace)
	fmt.Fprintf(o.Out, `
The cluster and the release stay up.
  The app:        curl -i http://127.0.0.1:%d/         (preview: http://127.0.0.1:%d/)
  Cluster:        export KUBECONFIG=%s
  Status:         %s status %s
  Roll back:      %s rollback %s
  Scale old down: %s finalize --now %s
  Tear down:      make demo-down
`, stack.ActiveNodePort, stack.PreviewNodePort, c.KubeconfigPath, bg, o.Release, bg, o.Release, bg, o.Release)
	if o.Ingress {
		fmt.Fprint(o.Out, ingressHint(caPath))
	}
	if res.Non2xx+res.TransportErrors > 0 {
		return fmt.Errorf("%d requests failed during the cutover", res.Non2xx+res.TransportErrors)
	}
	return nil
}

// RemoveNamespace deletes a namespace if it exists and waits, bounded, until it is gone, so
// the node ports its Services held are free again.
func RemoveNamespace(ctx context.Context, c *cluster.Cluster, ns string) error {
	nsClient := c.Clientset.CoreV1().Namespaces()
	if err := nsClient.Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := nsClient.Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return fmt.Errorf("namespace %s still terminating: %w", ns, err)
	}
	return nil
}

// recreateNamespace removes the namespace and creates it enforcing Pod Security "restricted".
func recreateNamespace(ctx context.Context, c *cluster.Cluster, ns string) error {
	if err := RemoveNamespace(ctx, c, ns); err != nil {
		return err
	}
	_, err := c.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
	}}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	return nil
}

var probeClient = &http.Client{Timeout: 2 * time.Second}

// waitReady polls url until it answers 200, bounded.
func waitReady(ctx context.Context, url string) error {
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("%s never answered 200: %w", url, err)
	}
	return nil
}

func indent(s string) string {
	return "      " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n      ")
}

// monitoringValues turn on the chart's ServiceMonitor (every 5 s) and PrometheusRule, labelled
// for the stack's Prometheus.
func monitoringValues() map[string]any {
	labels := map[string]any{}
	for k, v := range monitoring.SelectorLabels {
		labels[k] = v
	}
	return map[string]any{
		"serviceMonitor": map[string]any{"enabled": true, "interval": "5s", "labels": labels},
		"prometheusRule": map[string]any{"enabled": true, "labels": labels},
	}
}

// demoQuery is what the report asks Prometheus: the users' request rate by colour over the
// cutover.
const demoQuery = `sum by (color) (rate(http_requests_total{namespace=%q, route!~"/health|/ready|/metrics"}[1m]))`

// reportMonitoring prints the release's scrape targets and the request rate by colour as the
// stack's Prometheus saw them, once the cutover's traffic has been scraped.
func reportMonitoring(ctx context.Context, c *cluster.Cluster, ns string, detail func(string, ...any)) error {
	prom, err := monitoring.PrometheusAPI(c.RESTConfig)
	if err != nil {
		return err
	}
	q := fmt.Sprintf(demoQuery, ns)
	var last string
	err = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		v, _, _, err := prom.Query(ctx, q, time.Now())
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = v.String()
		return strings.Contains(last, `color="green"`), nil
	})
	if err != nil {
		return fmt.Errorf("prometheus never saw green's traffic (%s): %w", last, err)
	}
	detail("prometheus: %s\n%s", q, indent(last))
	targets, err := prom.Targets(ctx)
	if err != nil {
		return err
	}
	for _, t := range targets.Active {
		if string(t.Labels["namespace"]) == ns {
			detail("target %s pod %s color %s: %s", t.Labels["job"], t.Labels["pod"], t.Labels["color"], t.Health)
		}
	}
	detail("query it yourself: kubectl get --raw '%s/api/v1/query?query=up'", monitoring.PrometheusProxyPath)
	return nil
}
