//go:build integration

package integration

import (
	"context"
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/argocd"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/gitrepo"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/cluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/gitops"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/loadgen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stack"
)

// The GitOps suites: a real Argo CD (v3.6.1, core mode, built here) syncs the chart from an
// in-cluster Git server, with no Helm release. Argo CD is installed once per test binary and
// removed by TestMain; each test seeds its own repository and Application.

var argoCDStack = &suiteStack{name: "argocd"}

// argoCD installs Argo CD core and the Git server into the shared cluster once per test
// binary, for TestMain to remove after the suite. hack/images.sh builds the images before the
// tests (a cold build shows its progress there); here they are up to date.
func argoCD(t *testing.T) *cluster.Cluster {
	t.Helper()
	c, _ := appCluster(t)
	err := argoCDStack.ensure(40*time.Minute, func(ctx context.Context, logf func(string, ...any)) error {
		imgs, err := gitops.EnsureImages(ctx, repoRoot, logf)
		if err != nil {
			return err
		}
		if err := c.LoadImageArchives(ctx, imgs.Tarballs()...); err != nil {
			return err
		}
		began := time.Now()
		opts := gitops.Options{Images: imgs, RepoRoot: repoRoot, Logf: logf}
		if err := gitops.Install(ctx, c.RESTConfig, opts); err != nil {
			return err
		}
		logf("Argo CD core and the Git server installed in %s", time.Since(began).Round(100*time.Millisecond))
		// Install is idempotent: run again over what it made, it updates in place and is ready.
		began = time.Now()
		if err := gitops.Install(ctx, c.RESTConfig, opts); err != nil {
			return fmt.Errorf("install again over the first install: %w", err)
		}
		logf("installed again over itself in %s", time.Since(began).Round(100*time.Millisecond))
		return nil
	}, func(ctx context.Context) error { return gitops.Uninstall(ctx, c.RESTConfig) })
	require.NoError(t, err, "install Argo CD (hack/images.sh shows its build)")
	return c
}

// argoApp is a release Argo CD syncs from its own repository on the Git server.
type argoApp struct {
	*app
	repo string // the repository's name on the Git server
	spec gitops.Application
	argo argocd.App
	head string // the seed commit
}

// newArgoApp seeds a repository with the chart and stack.Values plus extra (as newAppOn
// installs with Helm), creates the Application, and waits until Argo CD reports it Synced and
// Healthy at the seed commit and the release answers on its node port. The HPAs read CPU from
// metrics-server (without it Argo CD reports them Degraded), which holds their scale as
// newAppOn does.
func newArgoApp(t *testing.T, extra map[string]any) *argoApp {
	t.Helper()
	metrics := make(chan error, 1)
	c := argoCD(t)
	go func() { metrics <- metricsPipeline(c) }()
	_, imgs := appCluster(t)
	port := takeMainPort(t, c)
	a := &app{t: t, c: c, images: imgs, ns: createTestNamespace(t, c, "argo"), port: port}
	a.kubectl = k8s.NewKubectlOptions("", c.KubeconfigPath, a.ns)
	t.Cleanup(a.cleanup)

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var err error
	// Argo CD syncs the release while its dependencies start: it is Healthy once they answer.
	a.deps, err = stack.CreateDependencies(ctx, c.Clientset, a.ns, imgs)
	require.NoError(t, err, "create PostgreSQL, Redis and the LLM stand-in")

	vals := stack.Values(a.deps, stack.Versions[0])
	vals["service"].(map[string]any)["nodePort"] = port
	vals["previewService"] = map[string]any{"type": "ClusterIP"}
	vals["autoscaling"].(map[string]any)["behavior"] = map[string]any{
		"scaleUp":   map[string]any{"selectPolicy": "Disabled"},
		"scaleDown": map[string]any{"selectPolicy": "Disabled"},
	}
	maps.Copy(vals, extra)

	g := &argoApp{app: a, repo: a.ns}
	g.head, err = gitops.Seed(ctx, gitops.HostURL(g.repo), chartDir, "test", vals)
	require.NoError(t, err, "seed the repository")
	g.spec = gitops.Application{Name: a.ns, Release: release, Repo: g.repo, Env: "test", Destination: a.ns}
	g.argo, err = g.spec.App(c.RESTConfig)
	require.NoError(t, err)
	t.Cleanup(func() {
		// Before the namespace goes (cleanups run last-registered first): an Application left
		// behind would sync the release back into a namespace being deleted.
		dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
		defer dcancel()
		if err := gitops.DeleteApplication(dctx, c.RESTConfig, g.spec.Name); err != nil {
			t.Errorf("delete application %s: %v", g.spec.Name, err)
		}
	})
	require.NoError(t, <-metrics, "install metrics-server (hack/images.sh shows its build)")
	began := time.Now()
	require.NoError(t, gitops.ApplyApplication(ctx, c.RESTConfig, g.spec))
	s, err := gitops.WaitSyncedHealthy(ctx, g.argo, g.head, 5*time.Minute, t.Logf)
	require.NoError(t, err, "argo cd never reported the seed Synced and Healthy")
	t.Logf("argo cd synced the seed commit %s: %s, %s after the Application was created", g.head[:7], s, time.Since(began).Round(100*time.Millisecond))
	require.NoError(t, stack.WaitDependencies(ctx, c.Clientset, a.ns, 3*time.Minute), "PostgreSQL, Redis and the LLM stand-in")
	a.waitServing("active", port, 2*time.Minute)
	return g
}

// gitops runs bluegreen --gitops against the release's repository and Application.
func (g *argoApp) gitops(ctx context.Context, args ...string) (int, map[string]any, string) {
	g.t.Helper()
	full := append([]string{"--gitops", "--git", gitops.HostURL(g.repo), "--app", g.spec.Name, "--app-namespace", gitops.Namespace}, args...)
	return g.bluegreen(ctx, full...)
}

// serviceColor is the colour the main Service selects.
func (g *argoApp) serviceColor(ctx context.Context) string {
	g.t.Helper()
	svc, err := g.c.Clientset.CoreV1().Services(g.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(g.t, err)
	return svc.Spec.Selector["color"]
}

// requireSyncedHealthy asserts Argo CD reports the Application Synced and Healthy at the
// repository's newest commit, after a refresh, within a bound.
func (g *argoApp) requireSyncedHealthy(ctx context.Context, when string) argocd.Status {
	g.t.Helper()
	head := g.remoteHead(ctx)
	s, err := gitops.WaitSyncedHealthy(ctx, g.argo, head, 2*time.Minute, nil)
	require.NoError(g.t, err, "%s: the Application is not Synced and Healthy at %s", when, head[:7])
	g.t.Logf("%s: application %s", when, s)
	return s
}

// remoteHead is the newest commit of the repository's main branch.
func (g *argoApp) remoteHead(ctx context.Context) string {
	g.t.Helper()
	co, err := gitrepo.Clone(ctx, gitops.HostURL(g.repo), "main", g.t.TempDir()+"/co")
	require.NoError(g.t, err)
	head, err := co.Head(ctx)
	require.NoError(g.t, err)
	return head
}

// stepTimes lists a result's steps that wrote to Git and waited for the sync, with how long
// each took (commit, push, refresh, Argo CD's sync, the live objects read back).
func stepTimes(res map[string]any) []string {
	var out []string
	steps, _ := res["steps"].([]any)
	for _, s := range steps {
		step, _ := s.(map[string]any)
		name, _ := step["name"].(string)
		for _, p := range []string{"scale ", "switch service ", "record ", "switch back"} {
			if strings.HasPrefix(name, p) {
				out = append(out, fmt.Sprintf("%s: %v", name, step["elapsed"]))
				break
			}
		}
	}
	return out
}

// commitsSince lists the repository's commits after from, newest first ("<hash> <subject>").
func (g *argoApp) commitsSince(ctx context.Context, from string) []string {
	g.t.Helper()
	co, err := gitrepo.Clone(ctx, gitops.HostURL(g.repo), "main", g.t.TempDir()+"/log")
	require.NoError(g.t, err)
	head, err := co.Head(ctx)
	require.NoError(g.t, err)
	log, err := co.Log(ctx, from, head)
	require.NoError(g.t, err)
	return log
}

// valuesAtHead reads the environment's values file at the repository's newest commit.
func (g *argoApp) valuesAtHead(ctx context.Context) string {
	g.t.Helper()
	co, err := gitrepo.Clone(ctx, gitops.HostURL(g.repo), "main", g.t.TempDir()+"/values")
	require.NoError(g.t, err)
	b, err := os.ReadFile(co.Path(gitops.ValuesPath("test")))
	require.NoError(g.t, err)
	return string(b)
}

// TestArgoCDCutoverThroughGit: under 200 req/s of keep-alive and 200 req/s of fresh-connection
// traffic, `bluegreen --gitops --git --app` deploys v2 and rolls back through commits Argo CD
// syncs, with no Helm release and not one failed request; the Application is Synced and
// Healthy after the deploy, the rollback and finalize, and finalize's `replicas: 0` for the
// idle colour is applied (the ignoreDifferences rule is scoped so it still is).
func TestArgoCDCutoverThroughGit(t *testing.T) {
	parallel(t)
	g := newArgoApp(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	waitKeepAlive := g.load(loadCtx, true, 12*time.Minute)
	waitFresh := g.load(loadCtx, false, 12*time.Minute)
	seed := g.remoteHead(ctx)

	type run struct {
		args []string
		want string // the colour serving after it
	}
	for _, r := range []run{
		{append([]string{"deploy", "--tag", stack.Versions[1], "--scale-down-delay", "10m"}, fastGates...), "green"},
		{append([]string{"rollback"}, fastGates...), "blue"},
	} {
		before := g.remoteHead(ctx)
		code, res, out := g.gitops(ctx, r.args...)
		require.Equal(t, 0, code, "bluegreen --gitops %s:\n%s", r.args[0], lastLines(out, 40))
		assert.Equal(t, r.want, g.serviceColor(ctx))
		commits := g.commitsSince(ctx, before)
		t.Logf("bluegreen --gitops %s: %d commits %q; steps through Git: %s", r.args[0], len(commits), commits, strings.Join(stepTimes(res), "; "))
		assert.NotEmpty(t, commits, "every change went through Git")
		_, _, took, _ := switchStep(t, res)
		t.Logf("switch (decision -> commit, push, refresh, Argo CD sync, Service read back): %s", took)
		g.requireSyncedHealthy(ctx, "after "+r.args[0])
	}
	code, _, out := g.gitops(ctx, "finalize", "--now", "--in-flight-timeout", "30s")
	require.Equal(t, 0, code, "bluegreen --gitops finalize:\n%s", lastLines(out, 30))
	g.requireSyncedHealthy(ctx, "after finalize")
	green, err := g.c.Clientset.AppsV1().Deployments(g.ns).Get(ctx, release+"-green", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(0), *green.Spec.Replicas, "finalize's replicas: 0 for the idle colour was applied by Argo CD")
	stopLoad()
	for mode, res := range map[string]func() loadgen.Result{"keep-alive": waitKeepAlive, "fresh": waitFresh} {
		r := res()
		assert.Zero(t, r.Non2xx+r.TransportErrors, "%s: failed requests during the GitOps cutovers", mode)
		assert.Greater(t, r.Total, 1000, "%s: the load ran", mode)
	}
	all := g.commitsSince(ctx, seed)
	t.Logf("commits made by the cutovers (newest first): %d\n  %s", len(all), strings.Join(all, "\n  "))
	secrets, err := g.c.Clientset.CoreV1().Secrets(g.ns).List(ctx, metav1.ListOptions{FieldSelector: "type=helm.sh/release.v1"})
	require.NoError(t, err)
	assert.Empty(t, secrets.Items, "no Helm release at any point")
}

// TestArgoCDFailedGateCommitsNoSwitch: a version whose /ready fails (a wrong database
// password) is committed and synced as the idle colour, fails the gate, and traffic never
// leaves blue: exit 4, and no commit changes activeColor.
func TestArgoCDFailedGateCommitsNoSwitch(t *testing.T) {
	parallel(t)
	g := newArgoApp(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	wait := g.load(loadCtx, true, 5*time.Minute)
	seed := g.remoteHead(ctx)

	badDB := strings.Replace(g.deps.DatabaseURL, "ai-assistant-test", "wrong-password", 1)
	args := append([]string{"deploy", "--tag", stack.Versions[1], "--env", "DATABASE_URL=" + badDB}, fastGates...)
	args = append(args, "--timeout", "30s")
	code, _, out := g.gitops(ctx, args...)
	stopLoad()
	res := wait()
	assert.Equal(t, exitGateFailed, code, "exit code:\n%s", lastLines(out, 30))
	assert.Equal(t, "blue", g.serviceColor(ctx))
	commits := g.commitsSince(ctx, seed)
	t.Logf("commits after the failed gate: %q", commits)
	require.Len(t, commits, 1, "one commit: green prepared")
	assert.Contains(t, commits[0], "bluegreen: prepare green")
	assert.NotContains(t, g.valuesAtHead(ctx), "activeColor: green")
	assert.Zero(t, res.Counts["X-App-Color"]["green"], "requests served by the bad colour")
	assert.Zero(t, res.Non2xx+res.TransportErrors, "requests failed while the gate refused")
}

// TestArgoCDPostSwitchFailureRevertsThroughGit: a version that passes the gate and fails right
// after the switch is switched back by a revert commit that Argo CD syncs: traffic returns to
// blue, the failed requests are counted and bounded, and the time from the failure to blue's
// endpoints is printed with what bounds it.
func TestArgoCDPostSwitchFailureRevertsThroughGit(t *testing.T) {
	parallel(t)
	g := newArgoApp(t, map[string]any{"readinessProbe": map[string]any{
		"httpGet": map[string]any{"path": "/ready", "port": "http"}, "periodSeconds": 2, "timeoutSeconds": 2, "failureThreshold": 15,
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	wait := g.load(loadCtx, true, 5*time.Minute)
	seed := g.remoteHead(ctx)

	// Fail green's LLM the moment the Service selects green.
	switched := make(chan time.Time, 1)
	go func() {
		_ = waitUntil(loadCtx, 20*time.Millisecond, func(ctx context.Context) bool {
			svc, err := g.c.Clientset.CoreV1().Services(g.ns).Get(ctx, release, metav1.GetOptions{})
			return err == nil && svc.Spec.Selector["color"] == "green"
		})
		switched <- time.Now()
		g.standin(context.Background(), "green", map[string]any{"fail": true})
	}()
	args := append([]string{"deploy", "--tag", stack.Versions[1], "--env", "LLM_BASE_URL=" + g.deps.LLMScopeURL("green")}, fastGates...)
	args = append(args, "--verify-for", "20s")
	code, _, out := g.gitops(ctx, args...)
	var back time.Time
	require.NoError(t, waitUntil(ctx, 20*time.Millisecond, func(ctx context.Context) bool {
		if g.serviceColor(ctx) != "blue" {
			return false
		}
		back = time.Now()
		return true
	}))
	waitColor(t, g.app, "blue")
	stopLoad()
	res := wait()

	require.Equal(t, exitReverted, code, "exit code:\n%s", lastLines(out, 30))
	commits := g.commitsSince(ctx, seed)
	t.Logf("commits (newest first): %q", commits)
	require.NotEmpty(t, commits)
	assert.Contains(t, commits[0], "bluegreen: switch back green -> blue", "the revert is a commit")
	assert.Contains(t, g.valuesAtHead(ctx), "activeColor: blue")
	at := <-switched
	failed := res.FailedSince(at)
	var took string
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, "endpoints back "); i >= 0 {
			took = line[i:]
		}
	}
	require.NotEmpty(t, took, "the command says how long the switch back took:\n%s", lastLines(out, 30))
	t.Logf("post-switch failure through Git: %d of %d requests failed after the switch at %s; %s; the Service selected blue again %s after it selected green",
		failed, res.Total, at.Format("15:04:05.000"), took, back.Sub(at).Round(time.Millisecond))
	assert.LessOrEqual(t, failed, res.Total/100, "failed requests bounded (1 %%)")
	// Synced at the revert; green is left running for inspection with its failing pods, so the
	// Application's health is not asserted here.
	head := g.remoteHead(ctx)
	s, err := gitops.WaitSynced(ctx, g.argo, head, 2*time.Minute)
	require.NoError(t, err, "Argo CD synced the revert commit %s", head[:7])
	t.Logf("after the revert: application %s", s)
}

// TestArgoCDSyncsTheChart: Argo CD renders the chart from Git with Helm 4 and applies it, and
// finds no drift where other controllers own fields. One Application, three steps in order:
//
//   - install: Synced and Healthy at the seed commit, the release answers, no Helm release
//     (helm ls is empty), no `helm test` pod (Argo CD skips test hooks), the idle colour at 0.
//   - selfHeal: the seed's way of switching, a kubectl patch of the Service selector, is undone
//     by selfHeal; the time it takes is printed: it is why a cutover under GitOps goes through Git.
//   - HPA: with the active colour's HPA reading CPU and free to scale (the chart's default
//     behaviour), load makes it scale the Deployment up and holds it there for a minute; then the
//     HPA goes on alone (it may scale back down) until 5 minutes have passed since the load
//     began. The Application stays Synced at every one-second read, Progressing while new pods
//     start and Degraded only while the HPA itself reports it cannot scale (ScalingActive False,
//     which Argo CD reads as Degraded), and Healthy at the end. The suite starts this test first
//     (it is the longest), and it lends its slot for the soak after the load.
func TestArgoCDSyncsTheChart(t *testing.T) {
	parallel(t)
	g := newArgoApp(t, map[string]any{"autoscaling": map[string]any{"minReplicas": 2, "maxReplicas": 4}})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	head := g.remoteHead(ctx)
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"install", func(t *testing.T) {
			assert.Equal(t, "blue", g.serviceColor(ctx))
			secrets, err := g.c.Clientset.CoreV1().Secrets(g.ns).List(ctx, metav1.ListOptions{FieldSelector: "type=helm.sh/release.v1"})
			require.NoError(t, err)
			assert.Empty(t, secrets.Items, "no Helm release: Argo CD renders with helm template")
			pods, err := g.c.Clientset.CoreV1().Pods(g.ns).List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			for _, p := range pods.Items {
				assert.NotContains(t, p.Name, "test-ready", "Argo CD skips the chart's helm test hook")
			}
			d, err := g.c.Clientset.AppsV1().Deployments(g.ns).Get(ctx, release+"-green", metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, int32(0), *d.Spec.Replicas, "the idle colour's replicas: 0 applies")
			g.requireSyncedHealthy(ctx, "after install")
		}},
		{"selfHeal", func(t *testing.T) {
			patched := time.Now()
			g.kubectlRun("patch", "service", release, "-p", `{"spec":{"selector":{"color":"green"}}}`)
			var reverted time.Time
			err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
				if g.serviceColor(ctx) != "blue" {
					return false, nil
				}
				reverted = time.Now()
				return true, nil
			})
			require.NoError(t, err, "selfHeal never put the selector back")
			t.Logf("selfHeal: kubectl patch of the Service selector reverted %s after the patch", reverted.Sub(patched).Round(time.Millisecond))
			g.requireSyncedHealthy(ctx, "after selfHeal")
		}},
		{"HPA", func(t *testing.T) {
			name := release + "-blue"
			loadCtx, stopLoad := context.WithCancel(ctx)
			defer stopLoad()
			done := g.load(loadCtx, false, 4*time.Minute)
			began := time.Now()
			var reads, scaledAt, progressing int
			var peak int32
			var drift []string
			degraded := map[string]int{} // Degraded reads by the HPA's reason
			check := func(ctx context.Context) {
				s, _, err := g.argo.Get(ctx)
				if err != nil {
					drift = append(drift, err.Error())
					return
				}
				reads++
				at := time.Since(began).Round(time.Second)
				if s.Sync != "Synced" || s.Revision != head {
					drift = append(drift, fmt.Sprintf("%s: %s", at, s))
				}
				switch s.Health {
				case "Healthy":
				case "Progressing":
					// The Deployment's health while the HPA's new pods start: Argo CD's reading
					// of a scale-up, not drift.
					progressing++
				case "Degraded":
					// Argo CD reads an HPA whose ScalingActive condition is False (it could not
					// compute CPU, e.g. from pods the load made unready) as Degraded. That is the
					// HPA's state, not drift; any other Degraded resource is.
					why := degradedHPA(s, name)
					if why == "" {
						drift = append(drift, fmt.Sprintf("%s: %s while HPA %s scales", at, s, name))
					}
					degraded[why]++
				default:
					drift = append(drift, fmt.Sprintf("%s: %s", at, s))
				}
			}
			err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
				check(ctx)
				d, err := g.c.Clientset.AppsV1().Deployments(g.ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return false, nil
				}
				peak = max(peak, *d.Spec.Replicas)
				return *d.Spec.Replicas > 2, nil
			})
			require.NoError(t, err, "the HPA never scaled %s above 2 under load", name)
			scaledAt = reads
			t.Logf("the HPA scaled %s to %d %s after load start", name, peak, time.Since(began).Round(time.Second))
			hold := time.Now()
			err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
				check(ctx)
				d, err := g.c.Clientset.AppsV1().Deployments(g.ns).Get(ctx, name, metav1.GetOptions{})
				if err == nil {
					peak = max(peak, *d.Spec.Replicas)
					if *d.Spec.Replicas <= 2 {
						drift = append(drift, fmt.Sprintf("%s: %s back at %d replicas under load", time.Since(began).Round(time.Second), name, *d.Spec.Replicas))
					}
				}
				return time.Since(hold) >= time.Minute, nil
			})
			require.NoError(t, err)
			stopLoad()
			done()
			held := reads
			// The soak: the HPA alone, its scale left to it, every read Synced. Two reads a
			// second are all it costs, so another test takes the slot meanwhile.
			lendSlot(t)
			const soak = 5 * time.Minute
			lowest := peak
			err = wait.PollUntilContextTimeout(ctx, time.Second, soak, true, func(ctx context.Context) (bool, error) {
				check(ctx)
				if d, err := g.c.Clientset.AppsV1().Deployments(g.ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
					lowest = min(lowest, *d.Spec.Replicas)
				}
				return time.Since(began) >= soak, nil
			})
			require.NoError(t, err)
			assert.Empty(t, drift, "every read Synced at %s, Degraded only while the HPA could not scale, and the HPA's scale kept under load", head[:7])
			s := g.requireSyncedHealthy(ctx, fmt.Sprintf("after %s with the HPA active", soak))
			assert.Equal(t, head, s.Revision, "no commit: the HPA's scale is no change to Git")
			t.Logf("HPA active for %s: %d reads of the Application (%d before the scale-up, %d in the minute held, %d after the load; %d Progressing while new pods started; Degraded while the HPA could not scale: %v), peak %d replicas, lowest after the load %d, drift seen: %d",
				time.Since(began).Round(time.Second), reads, scaledAt, held-scaledAt, reads-held, progressing, degraded, peak, lowest, len(drift))
		}},
	}
	defer func() { g.t = t }() // the cleanups report to the test, not to a finished step
	for _, step := range steps {
		if !t.Run(step.name, func(t *testing.T) { g.t = t; step.run(t) }) {
			break // the next step starts from the state this one leaves
		}
	}
}

// degradedHPA returns the HPA's message when the Application's only Degraded resource is HPA
// name ("" when another resource is Degraded, or none is named).
func degradedHPA(s argocd.Status, name string) string {
	why := ""
	for _, u := range s.Unhealthy {
		kind, rest, _ := strings.Cut(u, "/")
		if !strings.HasPrefix(rest, name+" Degraded") {
			if strings.Contains(rest, " Degraded") {
				return "" // something else is Degraded
			}
			continue
		}
		if kind != "HorizontalPodAutoscaler" {
			return ""
		}
		why = strings.TrimPrefix(rest, name+" Degraded: ")
		if _, after, ok := strings.Cut(why, "failed to get cpu utilization: "); ok {
			why = after
		}
	}
	return why
}
