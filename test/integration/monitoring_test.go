//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/cluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/gomod"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/monitoring"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stack"
)

var monitoringStackOnce = &suiteStack{name: "monitoring"}

// monitoringStack installs prometheus-operator, a Prometheus and prometheus-adapter into the
// shared cluster once per test binary, for TestMain to remove after the suite. Like
// metricsPipeline it returns an error, so a test can run it beside its release's install.
func monitoringStack(c *cluster.Cluster) error {
	return monitoringStackOnce.ensure(30*time.Minute, func(ctx context.Context, logf func(string, ...any)) error {
		// hack/images.sh builds the images before the tests (a cold build shows its progress
		// there); here they are up to date.
		o, tarballs, err := monitoring.PrepareStack(ctx, repoRoot, logf)
		if err != nil {
			return err
		}
		if err := c.LoadImageArchives(ctx, tarballs...); err != nil {
			return err
		}
		return monitoring.InstallStack(ctx, c.RESTConfig, o)
	}, func(ctx context.Context) error { return monitoring.UninstallStack(ctx, c.RESTConfig) })
}

var (
	crdsOnce sync.Once
	crdsErr  error
)

// stackCRDs applies the prometheus-operator CRDs once per test binary (the stack applies them
// again, a no-op). They stay after the suite: other releases' monitors are made of them.
func stackCRDs(c *cluster.Cluster) error {
	crdsOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		dir, err := gomod.Dir(repoRoot, monitoring.OperatorModule)
		if err != nil {
			crdsErr = err
			return
		}
		crdsErr = monitoring.InstallCRDs(ctx, c.RESTConfig, dir)
	})
	return crdsErr
}

// selectorLabels are the stack's Prometheus selector as chart values.
func selectorLabels() map[string]any {
	out := map[string]any{}
	for k, v := range monitoring.SelectorLabels {
		out[k] = v
	}
	return out
}

// scrapeInterval is the chart's monitors' interval in these tests: the stack's own.
const scrapeInterval = "5s"

// monitoredApp installs a release with extra values while the stack installs, and returns it
// with a client of the stack's Prometheus.
func monitoredApp(t *testing.T, extra map[string]any) (*app, promv1.API) {
	t.Helper()
	c, _ := appCluster(t)
	// The chart's monitors need their CRDs at install; the stack starts beside the release.
	require.NoError(t, stackCRDs(c), "apply the prometheus-operator CRDs")
	installed := make(chan error, 1)
	go func() { installed <- monitoringStack(c) }()
	a := newApp(t, extra)
	require.NoError(t, <-installed, "install the monitoring stack (hack/images.sh shows its build)")
	prom, err := monitoring.PrometheusAPI(c.RESTConfig)
	require.NoError(t, err)
	took, err := monitoring.WaitLoaded(context.Background(), c.RESTConfig, a.ns, 3*time.Minute)
	require.NoError(t, err)
	t.Logf("Prometheus loaded the release's monitors and rules %s after its install returned", took.Round(100*time.Millisecond))
	return a, prom
}

// targetsOf are the active targets of a job in the release's namespace, by pod.
func targetsOf(ctx context.Context, prom promv1.API, ns, job string) (map[string]promv1.ActiveTarget, error) {
	res, err := prom.Targets(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]promv1.ActiveTarget{}
	for _, tg := range res.Active {
		if string(tg.Labels["namespace"]) == ns && string(tg.Labels["job"]) == job {
			out[string(tg.Labels["pod"])] = tg
		}
	}
	return out, nil
}

// waitTargetsUp waits until the job's targets are exactly pods, every one up and labelled
// with colour, and `up` is 1 for each; it returns how long that took.
func waitTargetsUp(t *testing.T, prom promv1.API, ns, job, color string, pods []string) time.Duration {
	t.Helper()
	began := time.Now()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := targetsOf(ctx, prom, ns, job)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		var seen []string
		for pod, tg := range got {
			seen = append(seen, fmt.Sprintf("%s %s color=%s %s", pod, tg.Health, tg.Labels["color"], tg.LastError))
		}
		sort.Strings(seen)
		last = strings.Join(seen, "; ")
		if len(got) != len(pods) {
			return false, nil
		}
		for _, p := range pods {
			tg, ok := got[p]
			if !ok || tg.Health != promv1.HealthGood || string(tg.Labels["color"]) != color {
				return false, nil
			}
		}
		v, _, _, err := prom.Query(ctx, fmt.Sprintf(`up{namespace=%q, job=%q} == 1`, ns, job), time.Now())
		if err != nil {
			last = err.Error()
			return false, nil
		}
		var up []string
		for _, s := range v.(model.Vector) {
			up = append(up, string(s.Metric["pod"]))
		}
		return sameSet(up, pods), nil
	})
	require.NoError(t, err, "job %s in %s: want pods %v up (color=%s); targets: %s", job, ns, pods, color, last)
	return time.Since(began)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// scrapeGaps are the distinct gaps between the samples of a series over the last window.
func scrapeGaps(t *testing.T, prom promv1.API, selector string, window time.Duration) []time.Duration {
	t.Helper()
	v, _, _, err := prom.Query(context.Background(), fmt.Sprintf("%s[%ds]", selector, int(window.Seconds())), time.Now())
	require.NoError(t, err)
	m, ok := v.(model.Matrix)
	require.True(t, ok && len(m) > 0, "no samples of %s", selector)
	var gaps []time.Duration
	for i := 1; i < len(m[0].Values); i++ {
		gaps = append(gaps, m[0].Values[i].Timestamp.Time().Sub(m[0].Values[i-1].Timestamp.Time()))
	}
	slices.Sort(gaps)
	return gaps
}

// TestMonitoringScrapesTheActiveColour: through the chart's ServiceMonitor, Prometheus's
// targets API shows the active colour's pods up (and `up` is 1 for each) under the main
// Service's job, at the ServiceMonitor's interval; after `bluegreen deploy` it shows the new
// colour's pods there instead.
func TestMonitoringScrapesTheActiveColour(t *testing.T) {
	parallel(t)
	a, prom := monitoredApp(t, map[string]any{"metrics": map[string]any{
		"serviceMonitor": map[string]any{"enabled": true, "interval": scrapeInterval, "labels": selectorLabels()},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	blue := a.podNames(ctx, "blue")
	require.Len(t, blue, 2)
	took := waitTargetsUp(t, prom, a.ns, release, "blue", blue)
	t.Logf("scraping: blue's %d pods up under job %s %s after the stack and the release were ready", len(blue), release, took.Round(100*time.Millisecond))
	// Enough of blue's samples to read the interval from, before the cutover ends its scrapes
	// (a deploy takes about two intervals).
	blueUp := fmt.Sprintf(`up{namespace=%q, pod=%q}`, a.ns, blue[0])
	require.NoError(t, wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		v, _, _, err := prom.Query(ctx, fmt.Sprintf("count_over_time(%s[2m])", blueUp), time.Now())
		if err != nil {
			return false, nil
		}
		vec, ok := v.(model.Vector)
		return ok && len(vec) == 1 && vec[0].Value >= 4, nil
	}), "blue's pod %s scraped 4 times", blue[0])

	code, _, out := a.bluegreen(ctx, append([]string{"deploy", "--tag", stack.Versions[1]}, fastGates...)...)
	require.Equal(t, 0, code, "deploy:\n%s", lastLines(out, 30))
	require.Equal(t, "green", a.activeColor())
	deployed := time.Now()
	green := a.podNames(ctx, "green")
	require.NotEmpty(t, green)
	took = waitTargetsUp(t, prom, a.ns, release, "green", green)
	t.Logf("scraping: after the cutover, green's %d pods are the job's targets, up, %s after deploy returned", len(green), took.Round(100*time.Millisecond))
	assert.Less(t, time.Since(deployed), 60*time.Second)

	// blue was scraped from the start to the cutover: its samples show the interval.
	gaps := scrapeGaps(t, prom, blueUp, 2*time.Minute)
	require.GreaterOrEqual(t, len(gaps), 3, "blue was scraped several times")
	median := gaps[len(gaps)/2]
	t.Logf("scrape interval seen: median %s over %d gaps (min %s, max %s); ServiceMonitor interval %s", median, len(gaps), gaps[0], gaps[len(gaps)-1], scrapeInterval)
	assert.InDelta(t, 5*time.Second, median, float64(time.Second), "the ServiceMonitor's interval is the one Prometheus scrapes at")
}

// ruleGroup is the release's group of the chart's PrometheusRule as Prometheus loaded it
// (every release names its group the same; the operator names the file after the namespace).
func ruleGroup(ctx context.Context, prom promv1.API, ns string) (*promv1.RuleGroup, error) {
	res, err := prom.Rules(ctx, nil)
	if err != nil {
		return nil, err
	}
	for i, g := range res.Groups {
		if strings.Contains(filepath.Base(g.File), ns+"-") {
			return &res.Groups[i], nil
		}
	}
	return nil, fmt.Errorf("no rule group of namespace %s loaded yet", ns)
}

func alertingRule(g *promv1.RuleGroup, name string) (promv1.AlertingRule, bool) {
	for _, r := range g.Rules {
		if ar, ok := r.(promv1.AlertingRule); ok && ar.Name == name {
			return ar, true
		}
	}
	return promv1.AlertingRule{}, false
}

// alertWatch follows one alerting rule of a release's group.
type alertWatch struct {
	t     *testing.T
	prom  promv1.API
	ns    string
	name  string
	rule  promv1.AlertingRule
	alert *promv1.Alert // the rule's alert in the last reading, nil when there is none
}

// waitState polls every 500 ms until the rule's alert is in one of states ("" = no alert),
// bounded; each reading gets 10 s (the API server's proxy is slow on a busy machine).
func (w *alertWatch) waitState(timeout time.Duration, states ...promv1.AlertState) time.Time {
	w.t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		g, err := ruleGroup(ctx, w.prom, w.ns)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		r, ok := alertingRule(g, w.name)
		if !ok {
			last = "rule not loaded"
			return false, nil
		}
		w.rule, w.alert = r, nil
		if len(r.Alerts) > 0 {
			w.alert = r.Alerts[0]
		}
		last = fmt.Sprintf("rule %s, %d alerts", r.State, len(r.Alerts))
		if w.alert == nil {
			return slices.Contains(states, ""), nil
		}
		last += fmt.Sprintf(" (%s since %s, value %s)", w.alert.State, w.alert.ActiveAt.Format("15:04:05.000"), w.alert.Value)
		return slices.Contains(states, w.alert.State), nil
	})
	require.NoError(w.t, err, "alert %s in %s never %q (last: %s)", w.name, w.ns, states, last)
	return time.Now()
}

// firedAt is when Prometheus first evaluated the alert as firing: the first sample of its
// ALERTS series in that state (the API's own clock, not when a poll happened to see it).
func (w *alertWatch) firedAt() time.Time {
	w.t.Helper()
	q := fmt.Sprintf(`ALERTS{alertname=%q, namespace=%q, alertstate="firing"}[5m]`, w.name, w.ns)
	var first time.Time
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		v, _, _, err := w.prom.Query(ctx, q, time.Now())
		if err != nil {
			return false, nil
		}
		m, ok := v.(model.Matrix)
		if !ok || len(m) == 0 || len(m[0].Values) == 0 {
			return false, nil
		}
		first = m[0].Values[0].Timestamp.Time()
		return true, nil
	})
	require.NoError(w.t, err, "no firing sample of %s", q)
	return first
}

// TestMonitoringAlerts: the chart's PrometheusRule, loaded by Prometheus with the `for` and
// threshold the values set, fires AIAssistantDependencyDown (every pod of the active colour
// failing its readiness check on a dependency) within its `for` plus one evaluation interval
// of the condition holding, once Redis stops, and resolves once Redis is back; and
// AIAssistantHighErrorRatio fires while the LLM fails every completion (its model list still
// answers, so the pods stay ready and return the 500s).
func TestMonitoringAlerts(t *testing.T) {
	parallel(t)
	const (
		dependencyDownFor = "10s"
		errorRatioFor     = "10s"
		errorRatio        = 0.2
	)
	a, prom := monitoredApp(t, map[string]any{"metrics": map[string]any{
		"serviceMonitor": map[string]any{"enabled": true, "interval": scrapeInterval, "labels": selectorLabels()},
		"prometheusRule": map[string]any{
			"enabled": true, "labels": selectorLabels(), "errorRatioThreshold": errorRatio,
			"for": map[string]any{"dependencyDown": dependencyDownFor, "errorRatio": errorRatioFor},
		},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	waitTargetsUp(t, prom, a.ns, release, "blue", a.podNames(ctx, "blue"))
	eval := monitoring.EvaluationInterval

	// The rules as Prometheus loaded them carry the values' `for` and threshold, on the
	// active colour.
	down := &alertWatch{t: t, prom: prom, ns: a.ns, name: "AIAssistantDependencyDown"}
	loadedAt := down.waitState(90*time.Second, "")
	g, err := ruleGroup(ctx, prom, a.ns)
	require.NoError(t, err)
	assert.Equal(t, eval.Seconds(), g.Interval, "the group is evaluated at the stack's interval")
	assert.Equal(t, mustDuration(t, dependencyDownFor).Seconds(), down.rule.Duration, "AIAssistantDependencyDown's for is the values'")
	assert.Contains(t, down.rule.Query, `color="blue"`)
	ratio, ok := alertingRule(g, "AIAssistantHighErrorRatio")
	require.True(t, ok)
	assert.Equal(t, mustDuration(t, errorRatioFor).Seconds(), ratio.Duration, "AIAssistantHighErrorRatio's for is the values'")
	assert.Contains(t, ratio.Query, fmt.Sprintf("> %v", errorRatio), "AIAssistantHighErrorRatio's threshold is the values'")
	t.Logf("alerts: the release's %d rules loaded at %s", len(g.Rules), loadedAt.Format("15:04:05"))

	// Redis stops: every pod reports it down, the rule goes pending, then firing after `for`.
	require.NoError(t, stack.ScaleDependency(ctx, a.c.Clientset, a.ns, stack.RedisName, 0))
	a.waitDependencyGone(stack.RedisName)
	outage := time.Now()
	down.waitState(time.Minute, promv1.AlertStatePending, promv1.AlertStateFiring)
	require.Equal(t, model.LabelValue("redis"), down.alert.Labels["dependency"])
	assert.Equal(t, model.LabelValue(a.ns), down.alert.Labels["namespace"], "the alert names the release's namespace")
	// Prometheus stores sample timestamps in milliseconds (the ALERTS series firedAt reads).
	activeAt := down.alert.ActiveAt.Truncate(time.Millisecond)
	down.waitState(time.Minute, promv1.AlertStateFiring)
	firedAt := down.firedAt()
	forDur := mustDuration(t, dependencyDownFor)
	held := firedAt.Sub(activeAt)
	t.Logf("alerts: Redis stopped -> AIAssistantDependencyDown pending %s and firing %s after the outage (Prometheus's clock: condition true at %s, firing %s later; for %s, evaluation every %s)",
		activeAt.Sub(outage).Round(100*time.Millisecond), firedAt.Sub(outage).Round(100*time.Millisecond),
		activeAt.Format("15:04:05.000"), held.Round(100*time.Millisecond), forDur, eval)
	assert.GreaterOrEqual(t, held, forDur, "not firing before its for")
	// One evaluation interval, and a second for an evaluation that starts late on a busy node.
	assert.LessOrEqual(t, held, forDur+eval+time.Second, "firing within its for plus one evaluation interval")

	require.NoError(t, stack.ScaleDependency(ctx, a.c.Clientset, a.ns, stack.RedisName, 1))
	restored := time.Now()
	resolvedAt := down.waitState(2*time.Minute, "")
	t.Logf("alerts: Redis restored -> AIAssistantDependencyDown resolved after %s", resolvedAt.Sub(restored).Round(100*time.Millisecond))
	a.waitEndpoints(2, time.Minute)

	// The LLM fails every completion; its model list still answers, so readiness holds.
	a.standin(ctx, "", map[string]any{"failCompletions": true})
	chatCtx, stopChats := context.WithCancel(ctx)
	chats := a.chats(chatCtx, 10, 90*time.Second)
	failing := time.Now()
	high := &alertWatch{t: t, prom: prom, ns: a.ns, name: "AIAssistantHighErrorRatio"}
	high.waitState(90*time.Second, promv1.AlertStateFiring)
	stopChats()
	sent := chats()
	a.standin(ctx, "", map[string]any{})
	t.Logf("alerts: LLM failing completions -> AIAssistantHighErrorRatio firing after %s at a 5xx ratio of %s (threshold %v, for %s); %v",
		time.Since(failing).Round(100*time.Millisecond), high.alert.Value, errorRatio, errorRatioFor, sent)
	assert.Positive(t, sent[500], "the server answered the LLM's 500s")
	assert.Equal(t, 2, a.readyEndpointsNow(), "the pods stayed ready: the error ratio, not readiness, caught it")
}

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	require.NoError(t, err)
	return d
}

// chats sends chat completions to the main Service at rate per second until ctx ends or d
// passes (at most rate*d requests); the returned function waits and counts answers by status.
func (a *app) chats(ctx context.Context, rate int, d time.Duration) func() map[int]int {
	ctx, cancel := context.WithTimeout(ctx, d)
	var (
		mu    sync.Mutex
		codes = map[int]int{}
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for n := 0; n < rate*int(d.Seconds()); n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				code := chat(ctx, client, url(a.port, "/v1/chat/completions"))
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}()
		}
	}()
	return func() map[int]int {
		wg.Wait()
		cancel()
		return codes
	}
}

// chat sends one chat completion and returns the status code, 0 on a transport error.
func chat(ctx context.Context, client *http.Client, u string) int {
	body := `{"model":"deepseek-chat","messages":[{"role":"user","content":"hello"}]}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// labelValuesQuery matches the one kind of template variable the dashboard uses.
var labelValuesQuery = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

// dashboard is what the test reads of files/dashboard.json: every panel's queries (rows
// nest panels) and the template variables.
type dashboard struct {
	Panels     []dashboardPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type dashboardPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"`
}

func (p dashboardPanel) exprs(out map[string]string) {
	for i, tg := range p.Targets {
		out[fmt.Sprintf("%s #%d", p.Title, i+1)] = tg.Expr
	}
	for _, c := range p.Panels {
		c.exprs(out)
	}
}

// TestMonitoringDashboard: with the PodMonitor instead of the ServiceMonitor and the preview
// Service off, both colours' pods are scraped; then every PromQL expression of the chart's
// dashboard (each panel's, and its template variable) runs against the live Prometheus and
// returns at least one series. An expression Prometheus rejects fails at once; one that
// returns nothing fails once the data has had time to arrive.
func TestMonitoringDashboard(t *testing.T) {
	parallel(t)
	a, prom := monitoredApp(t, map[string]any{
		"previewService": map[string]any{"enabled": false},
		"green":          map[string]any{"replicas": 1},
		"metrics": map[string]any{
			"podMonitor": map[string]any{"enabled": true, "interval": scrapeInterval, "labels": selectorLabels()},
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	blue, green := a.podNames(ctx, "blue"), a.podNames(ctx, "green")
	require.Len(t, green, 1)
	// Both colours under the one job the PodMonitor gives them, with no Service for green.
	began := time.Now()
	err := wait.PollUntilContextTimeout(ctx, time.Second, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := targetsOf(ctx, prom, a.ns, release)
		if err != nil {
			return false, nil
		}
		for _, p := range append(slices.Clone(blue), green...) {
			if tg, ok := got[p]; !ok || tg.Health != promv1.HealthGood {
				return false, nil
			}
		}
		return len(got) == len(blue)+len(green), nil
	})
	require.NoError(t, err, "the PodMonitor's targets never were both colours' pods, up")
	t.Logf("dashboard: PodMonitor scrapes blue %v and green %v (no preview Service) after %s", blue, green, time.Since(began).Round(100*time.Millisecond))

	// Traffic for the request, latency and error panels.
	chats := a.chats(ctx, 10, 15*time.Second)
	done := a.load(ctx, true, 15*time.Second)
	done()
	sent := chats()
	require.Positive(t, sent[200], "chat completions answered: %v", sent)

	raw, err := os.ReadFile(filepath.Join(chartDir, "files", "dashboard.json"))
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(raw, &d))

	// The template variables: label_values(metric, label) is the only kind used; any other
	// fails here, so a new one cannot go unchecked.
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			continue
		}
		require.Equal(t, "query", v.Type, "variable %s", v.Name)
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			require.NoError(t, json.Unmarshal(v.Query, &q.Query), "variable %s's query", v.Name)
		}
		m := labelValuesQuery.FindStringSubmatch(q.Query)
		require.NotNil(t, m, "variable %s: %q is not label_values(metric, label)", v.Name, q.Query)
		var values model.LabelValues
		err := wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
			var err error
			values, _, _, err = prom.LabelValues(ctx, m[2], []string{m[1]}, time.Now().Add(-10*time.Minute), time.Now())
			return err == nil && slices.Contains(values, model.LabelValue(a.ns)), err
		})
		require.NoError(t, err, "variable %s (%s) never offered namespace %s: %v", v.Name, q.Query, a.ns, values)
		vars[v.Name] = a.ns
		t.Logf("dashboard: variable $%s = %s offers %d values, %s among them", v.Name, q.Query, len(values), a.ns)
	}
	require.Contains(t, vars, "namespace")

	exprs := map[string]string{}
	for _, p := range d.Panels {
		p.exprs(exprs)
	}
	require.NotEmpty(t, exprs)
	for panel, expr := range exprs {
		q := expr
		for name, val := range vars {
			q = strings.ReplaceAll(q, "$"+name, val)
		}
		require.NotContains(t, q, "$", "panel %s: a variable the test does not know in %s", panel, expr)
		var v model.Value
		err := wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
			var err error
			v, _, _, err = prom.Query(ctx, q, time.Now())
			if err != nil {
				return false, err // rejected: no retry
			}
			return len(v.(model.Vector)) > 0, nil
		})
		require.NoError(t, err, "panel %s: %s returned no series (last %v)", panel, q, v)
		t.Logf("dashboard: %s -> %s", panel, strings.ReplaceAll(v.String(), "\n", "; "))
		if strings.HasPrefix(panel, "Pods by colour") {
			var colors []string
			for _, s := range v.(model.Vector) {
				colors = append(colors, string(s.Metric["color"]))
			}
			assert.ElementsMatch(t, []string{"blue", "green"}, colors, "both colours on the dashboard")
		}
	}
}
