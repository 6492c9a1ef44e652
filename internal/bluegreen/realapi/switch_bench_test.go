//go:build apiserver

package realapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	helmcli "helm.sh/helm/v3/pkg/cli"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/tools/metrics"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/cli"
	helmstore "github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/release"
)

// request is one API request a cutover's client made during a switch step.
type request struct {
	verb, path string
	at, took   time.Duration // from the step's start; the round trip
	status     int
	bytes      int64
}

// requestLog records the requests of the clients it wraps, and client-go's rate limiter waits,
// while it is on.
type requestLog struct {
	mu        sync.Mutex
	on        bool
	start     time.Time
	reqs      []request
	throttle  time.Duration
	throttleN int
	host      string // the proxy's: only its clients' rate limiter waits are counted
}

func (l *requestLog) begin() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on, l.start, l.reqs, l.throttle, l.throttleN = true, time.Now(), nil, 0, 0
}

func (l *requestLog) end() ([]request, time.Duration, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on = false
	return l.reqs, l.throttle, l.throttleN
}

// recordingProxy is an HTTPS reverse proxy in front of the API server that records each
// request while the log is on, and a kubeconfig that points at it: the command is connected
// through it exactly as it connects to a cluster, with no hook in its code. The proxy holds the
// admin credentials; the kubeconfig trusts its self-signed certificate.
func recordingProxy(tb testing.TB, c *cluster, l *requestLog) (kubeconfig string) {
	tb.Helper()
	target, err := url.Parse(c.Config.Host)
	require.NoError(tb, err)
	rt, err := rest.TransportFor(c.Config)
	require.NoError(tb, err)
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport:     rt,
		FlushInterval: -1, // watches stream
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		began := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(rec, req)
		l.add(req, began, rec)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	l.host = srv.Listener.Addr().String()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["proxy"] = &clientcmdapi.Cluster{Server: srv.URL, InsecureSkipTLSVerify: true}
	cfg.AuthInfos["proxy"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["proxy"] = &clientcmdapi.Context{Cluster: "proxy", AuthInfo: "proxy", Namespace: "default"}
	cfg.CurrentContext = "proxy"
	kubeconfig = filepath.Join(tb.TempDir(), "kubeconfig")
	require.NoError(tb, clientcmd.WriteToFile(*cfg, kubeconfig))
	return kubeconfig
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (l *requestLog) add(req *http.Request, began time.Time, rec *statusRecorder) {
	took := time.Since(began)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.on {
		return
	}
	q := request{verb: req.Method, path: req.URL.Path, at: began.Sub(l.start), took: took, status: rec.status, bytes: rec.bytes}
	if req.URL.RawQuery != "" {
		q.path += "?" + req.URL.RawQuery
	}
	l.reqs = append(l.reqs, q)
}

// throttleLog receives client-go's rate limiter latency: every client in the process reports
// to it, so it forwards to the log the benchmark has on.
type throttleLog struct {
	mu  sync.Mutex
	log *requestLog
}

func (t *throttleLog) Observe(_ context.Context, _ string, u url.URL, latency time.Duration) {
	t.mu.Lock()
	l := t.log
	t.mu.Unlock()
	if l == nil || latency < time.Millisecond {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.on && u.Host == l.host {
		l.throttle += latency
		l.throttleN++
	}
}

var (
	throttles        = &throttleLog{}
	registerThrottle sync.Once
)

// connectBefore builds the configuration as the command built it before issue 16: Helm's
// clients at helm's defaults (QPS 5, burst 100) and Helm's client-side OpenAPI validation on.
func connectBefore(tb testing.TB, kubeconfig, ns string) *bluegreen.Configuration {
	settings := helmcli.New()
	settings.KubeConfig = kubeconfig
	settings.SetNamespace(ns)
	hc := new(action.Configuration)
	require.NoError(tb, hc.Init(settings.RESTClientGetter(), ns, "secret", func(string, ...any) {}))
	restCfg, err := settings.RESTClientGetter().ToRESTConfig()
	require.NoError(tb, err)
	restCfg.QPS, restCfg.Burst = 50, 300
	kube, err := kubernetes.NewForConfig(restCfg)
	require.NoError(tb, err)
	store := helmstore.NewHelmStore(hc, releaseName, ns)
	store.OpenAPIValidation = true
	return bluegreen.NewConfiguration(store, kube, nil, releaseName, ns)
}

// connectNow is the command's connection as it is.
func connectNow(tb testing.TB, kubeconfig, ns string) *bluegreen.Configuration {
	cfg, err := cli.ConnectCluster(&cli.Global{Kubeconfig: kubeconfig, Namespace: ns, HistoryMax: helmstore.DefaultHistoryMax}, releaseName, io.Discard)
	require.NoError(tb, err)
	return cfg
}

// BenchmarkSwitch times the cutover's switch step (the Helm upgrade that changes activeColor,
// from the decision until the step has seen the Service select the new colour) in a rollback,
// as the command runs it: a fresh connection for each run, as each command is a process.
func BenchmarkSwitch(b *testing.B) {
	c := startCluster(b)
	l := &requestLog{}
	kubeconfig := recordingProxy(b, c, l)
	registerThrottle.Do(func() { metrics.Register(metrics.RegisterOpts{RateLimiterLatency: throttles}) })
	throttles.mu.Lock()
	throttles.log = l
	throttles.mu.Unlock()
	requireThrottleSeen(b, kubeconfig, l)
	for _, bc := range []struct {
		name    string
		connect func(tb testing.TB, kubeconfig, ns string) *bluegreen.Configuration
	}{
		{"before", connectBefore},
		{"after", connectNow},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := newRelease(b, c, values(nil))
			res, err := r.deploy("2.0.0")
			require.NoError(b, err, "deploy 2.0.0: %+v", res)
			var (
				reqs       []request
				counts     []int
				throttled  time.Duration
				throttledN int
				waits      time.Duration // rate limiter waits over all switches
				selector   []time.Duration
			)
			b.ResetTimer()
			b.StopTimer()
			for i := 0; i < b.N; i++ {
				cfg := bc.connect(b, kubeconfig, r.ns)
				cfg.Prober, cfg.Holder = r.app, r.cfg.Holder
				cfg.PollInterval, cfg.ConvergeTimeout, cfg.LeaseDuration = r.cfg.PollInterval, r.cfg.ConvergeTimeout, r.cfg.LeaseDuration
				inSwitch, seen := false, false
				cfg.Log = func(format string, args ...any) {
					line := fmt.Sprintf(format, args...)
					switch {
					case strings.HasPrefix(line, "==> switch service"):
						inSwitch, seen = true, true
						l.begin()
						b.StartTimer()
					case inSwitch && strings.HasPrefix(line, "    "):
						b.StopTimer()
						inSwitch = false
						reqs, throttled, throttledN = l.end()
						counts = append(counts, len(reqs))
						waits += throttled
						selector = append(selector, selectorChanged(reqs))
					}
				}
				rb := bluegreen.NewRollback(cfg)
				fast(&rb.Cutover)
				rb.Gates.Passes, rb.Gates.VerifyFor, rb.Gates.MaxOldRate = 1, 100*time.Millisecond, -1
				res, err := rb.Run(context.Background())
				require.NoError(b, err, "rollback %d: %+v", i, res)
				require.True(b, seen, "rollback %d ran a switch step", i)
			}
			total := 0
			for _, n := range counts {
				total += n
			}
			b.ReportMetric(float64(total)/float64(len(counts)), "req/switch")
			b.ReportMetric(float64(waits.Milliseconds())/float64(len(counts)), "throttled-ms/switch")
			slices.Sort(selector)
			require.Positive(b, selector[0], "each switch patched the Service")
			b.ReportMetric(float64(selector[len(selector)/2].Microseconds())/1000, "ms-to-selector(median)")
			b.Logf("the last switch: %d requests, %d rate limiter waits of %s in all", len(reqs), throttledN, throttled.Round(time.Millisecond))
			byKind := map[string]time.Duration{}
			for _, q := range reqs {
				b.Logf("  %7.1fms %6.1fms %3d %8d %s %s", float64(q.at)/1e6, float64(q.took)/1e6, q.status, q.bytes, q.verb, q.path)
				byKind[q.verb+" "+kindOf(q.path)] += q.took
			}
			var keys []string
			for k := range byKind {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				b.Logf("  %-60s %s", k, byKind[k].Round(100*time.Microsecond))
			}
		})
	}
}

// selectorChanged is when, from the decision, the switch's PATCH of the main Service returned,
// or 0 if there was none.
func selectorChanged(reqs []request) time.Duration {
	for _, q := range reqs {
		if q.verb == http.MethodPatch && kindOf(q.path) == "services" && strings.Contains(q.path, "/services/"+releaseName+"?") {
			return q.at + q.took
		}
	}
	return 0
}

// requireThrottleSeen checks that the rate limiter waits of a client through the proxy reach
// the log, so that a switch reported with none really had none.
func requireThrottleSeen(tb testing.TB, kubeconfig string, l *requestLog) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(tb, err)
	cfg.QPS, cfg.Burst = 5, 1
	kube, err := kubernetes.NewForConfig(cfg)
	require.NoError(tb, err)
	l.begin()
	for range 3 {
		_, err := kube.Discovery().ServerVersion()
		require.NoError(tb, err)
	}
	reqs, _, waits := l.end()
	require.Len(tb, reqs, 3, "the proxy saw the requests")
	require.Positive(tb, waits, "client-go's rate limiter waits are seen (3 requests at 5/s, burst 1)")
}

// kindOf names the resource a request path is about: /api/v1/namespaces/n/secrets/x -> secrets.
func kindOf(path string) string {
	path, _, _ = strings.Cut(path, "?")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		if p == "namespaces" && i+2 < len(parts) {
			return parts[i+2]
		}
	}
	return path
}
