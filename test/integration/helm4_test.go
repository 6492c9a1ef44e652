//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stack"
)

// Helm 4 interop (issue 16). Argo CD and Flux render with Helm 4, and people upgrade the
// release by hand with it, while the cutover command upgrades it through the Helm v3 SDK. The
// two meet in three places: the release records (Helm 4 adds the apply method, "ssa" or
// "csa", which a Helm 3 revision lacks, so Helm 4 reads it as "csa"), the field managers of
// the objects (Helm 4 applies server-side by default; an apply conflicts with any other
// manager owning a field it changes), and spec.replicas under an HPA. The tests log one
// "interop:" line per step, so `go test -v` reads as the interop matrix.
//
// Both Helm CLIs write as the field manager "helm" whatever their binary is called, so
// ./bin/helm4 is run as it is.

// helm4Path is the Helm 4 CLI that `make tools` builds beside Helm 3.
func helm4Path(t *testing.T) string {
	t.Helper()
	p := filepath.Join(repoRoot, "bin", "helm4")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("bin/helm4 missing: run `make tools` (%v)", err)
	}
	return p
}

// helm4 runs Helm 4 on the test namespace with the cluster's kubeconfig and returns its
// combined output.
func (a *app) helm4(args ...string) (string, error) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, helm4Path(a.t), append(args, "--namespace", a.ns)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+a.c.KubeconfigPath)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// helm4Upgrade is `helm upgrade --reuse-values` with Helm 4, the chart README's way by hand.
func (a *app) helm4Upgrade(args ...string) (string, error) {
	a.t.Helper()
	return a.helm4(append([]string{"upgrade", release, chartDir, "--reuse-values"}, args...)...)
}

// mustHelm4Upgrade is helm4Upgrade that must succeed; it logs the step as a row of the matrix.
func (a *app) mustHelm4Upgrade(step string, args ...string) {
	a.t.Helper()
	out, err := a.helm4Upgrade(args...)
	require.NoError(a.t, err, "helm4 upgrade %s (%s):\n%s", strings.Join(args, " "), step, lastLines(out, 20))
	rev, method := a.helm4Metadata()
	a.t.Logf("interop: %s: helm4 upgrade %s -> ok, revision %d, apply method %s", step, strings.Join(args, " "), rev, method)
}

// helm4Metadata is the release's latest revision and apply method as Helm 4 reads them; a
// revision written by Helm 3 (or the Helm v3 SDK) has none, which Helm 4 takes for "csa".
func (a *app) helm4Metadata() (int, string) {
	a.t.Helper()
	out, err := a.helm4("get", "metadata", release, "-o", "json")
	require.NoError(a.t, err, out)
	var m struct {
		Revision    int    `json:"revision"`
		ApplyMethod string `json:"applyMethod"`
	}
	require.NoError(a.t, json.Unmarshal([]byte(out), &m), out)
	if m.ApplyMethod == "" {
		m.ApplyMethod = "none (csa)"
	}
	return m.Revision, m.ApplyMethod
}

// newHelm4App is newApp with the chart installed by Helm 4 with its defaults (server-side
// apply), the same values, namespace and dependencies. Helm 3 reads what Helm 4 stores:
// a.activeColor and a.revision use it.
func newHelm4App(t *testing.T) *app {
	t.Helper()
	c, imgs := appCluster(t)
	port := takeMainPort(t, c) // registered first: given back after a.cleanup
	values := map[string]any{"previewService": map[string]any{"type": "ClusterIP"}}
	return newAppOn(t, appSetup{cluster: c, images: imgs, values: values, port: port, helm4: true})
}

// managers lists an object's field managers as manager/operation[/subresource].
func managers(entries []metav1.ManagedFieldsEntry) []string {
	var out []string
	for _, e := range entries {
		s := e.Manager + "/" + string(e.Operation)
		if e.Subresource != "" {
			s += "/" + e.Subresource
		}
		out = append(out, s)
	}
	return out
}

// replicasOwners lists the field managers that own a colour's spec.replicas.
func (a *app) replicasOwners(color string) []string {
	a.t.Helper()
	d, err := a.c.Clientset.AppsV1().Deployments(a.ns).Get(context.Background(), release+"-"+color, metav1.GetOptions{})
	require.NoError(a.t, err)
	var owners []metav1.ManagedFieldsEntry
	for _, e := range d.ManagedFields {
		var f struct {
			Spec map[string]any `json:"f:spec"`
		}
		if e.FieldsV1 != nil && json.Unmarshal(e.FieldsV1.GetRawBytes(), &f) == nil {
			if _, ok := f.Spec["f:replicas"]; ok {
				owners = append(owners, e)
			}
		}
	}
	return managers(owners)
}

// objectManagers is the field managers of the main Service and of a colour's Deployment.
func (a *app) objectManagers(color string) (svc, deploy []string) {
	a.t.Helper()
	ctx := context.Background()
	s, err := a.c.Clientset.CoreV1().Services(a.ns).Get(ctx, release, metav1.GetOptions{})
	require.NoError(a.t, err)
	d, err := a.c.Clientset.AppsV1().Deployments(a.ns).Get(ctx, release+"-"+color, metav1.GetOptions{})
	require.NoError(a.t, err)
	return managers(s.ManagedFields), managers(d.ManagedFields)
}

// waitAutoscaled waits, bounded, until the colour's HPA has set its Deployment (which the
// chart renders with no spec.replicas) to want replicas, all of them ready.
func (a *app) waitAutoscaled(color string, want int32) {
	a.t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		hpa, err := a.c.Clientset.AutoscalingV2().HorizontalPodAutoscalers(a.ns).Get(ctx, release+"-"+color, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		d, err := a.c.Clientset.AppsV1().Deployments(a.ns).Get(ctx, release+"-"+color, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("HPA desired %d, deployment spec %d, ready %d", hpa.Status.DesiredReplicas, ptr.Deref(d.Spec.Replicas, 1), d.Status.ReadyReplicas)
		return hpa.Status.DesiredReplicas == want && ptr.Deref(d.Spec.Replicas, 1) == want && d.Status.ReadyReplicas == want, nil
	})
	require.NoError(a.t, err, "the HPA never brought %s to %d ready replicas (last: %s)", color, want, last)
}

// selectorColor is the colour the main Service selects.
func (a *app) selectorColor() string {
	a.t.Helper()
	svc, err := a.c.Clientset.CoreV1().Services(a.ns).Get(context.Background(), release, metav1.GetOptions{})
	require.NoError(a.t, err)
	return svc.Spec.Selector["color"]
}

// hpaGone reports that a colour has no HPA.
func (a *app) hpaGone(color string) bool {
	a.t.Helper()
	_, err := a.c.Clientset.AutoscalingV2().HorizontalPodAutoscalers(a.ns).Get(context.Background(), release+"-"+color, metav1.GetOptions{})
	return apierrors.IsNotFound(err)
}

// TestHelm4ServerSideInstallAndCutoverByHand: Helm 4 installs the chart with server-side
// apply and cuts over by hand as the chart README says (stage green, switch, scale blue down),
// under load: the Service's selector moves, green serves, no request fails, and scaling
// down a colour the real HPA controller scaled (1 to minReplicas 2) meets no conflict.
func TestHelm4ServerSideInstallAndCutoverByHand(t *testing.T) {
	parallel(t)
	a := newHelm4App(t)
	rev, method := a.helm4Metadata()
	assert.Equal(t, "ssa", method, "Helm 4 installs with server-side apply by default")
	svcManagers, blueManagers := a.objectManagers("blue")
	assert.Contains(t, svcManagers, "helm/Apply", "the Service was applied server-side by helm")
	assert.Contains(t, blueManagers, "helm/Apply", "blue was applied server-side by helm")
	assert.NotContains(t, blueManagers, "helm/Update", "and never written client-side")
	t.Logf("interop: helm4 install (server-side) -> ok, revision %d, apply method %s, Service managers %v, blue managers %v", rev, method, svcManagers, blueManagers)
	// The chart renders blue with no spec.replicas: the API server defaults it to 1 and the
	// HPA controller raises it to autoscaling.minReplicas.
	a.waitAutoscaled("blue", 2)
	assert.Equal(t, "blue", a.activeColor(), "Helm 3 reads the release Helm 4 stored")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	waitLoad := a.load(loadCtx, true, 3*time.Minute)

	a.mustHelm4Upgrade("stage green", "--set", "green.image.tag="+stack.Versions[1], "--set", "green.replicas=null", "--wait", "--timeout", "2m")
	a.waitAutoscaled("green", 2)
	t.Logf("interop: green's HPA scaled it to 2; spec.replicas owners: green %v, blue %v", a.replicasOwners("green"), a.replicasOwners("blue"))
	a.mustHelm4Upgrade("cut over", "--set", "activeColor=green")
	assert.Equal(t, "green", a.selectorColor(), "the main Service selects green")
	waitColor(t, a, "green")
	a.mustHelm4Upgrade("scale blue down", "--set", "blue.replicas=0", "--wait", "--timeout", "2m")
	stopLoad()
	res := waitLoad()

	desired, _ := deploymentReplicas(t, a, "blue")
	assert.Zero(t, desired, "blue scaled to zero")
	assert.True(t, a.hpaGone("blue"), "blue's HPA removed")
	_, method = a.helm4Metadata()
	assert.Equal(t, "ssa", method, "every upgrade stayed server-side")
	assert.Equal(t, "green", a.activeColor())
	assert.Positive(t, res.Counts["X-App-Color"]["green"], "green served requests")
	assert.Zero(t, res.Non2xx+res.TransportErrors, "requests failed across Helm 4's cutover")
	t.Logf("interop: helm4 by-hand cutover under load: %d requests, %d from green, %d failed", res.Total, res.Counts["X-App-Color"]["green"], res.Non2xx+res.TransportErrors)
}

// TestHelm4AndBluegreenHandOverBothWays: bluegreen deploy works on a release Helm 4 installed
// server-side; Helm 4 then cuts back and, moving the release to server-side apply, scales
// down the colour bluegreen brought up (the HPA scaled it) with no conflict; and bluegreen
// deploys again on the release Helm 4 upgraded server-side.
func TestHelm4AndBluegreenHandOverBothWays(t *testing.T) {
	parallel(t)
	a := newHelm4App(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	waitLoad := a.load(loadCtx, true, 5*time.Minute)

	deploy := func(step string) {
		t.Helper()
		code, _, out := a.bluegreen(ctx, append([]string{"deploy", "--tag", a.otherVersion()}, fastGates...)...)
		require.Equal(t, 0, code, "bluegreen deploy (%s):\n%s", step, lastLines(out, 30))
		rev, method := a.helm4Metadata()
		svc, green := a.objectManagers("green")
		t.Logf("interop: %s: bluegreen deploy -> ok, revision %d, apply method %s, Service managers %v, green managers %v", step, rev, method, svc, green)
		// The cutover writes as "helm", like both CLIs, so that Helm 4 adopts its fields.
		for _, m := range append(svc, green...) {
			assert.Regexp(t, `^(helm|kube-controller-manager)/`, m, "a field manager other than helm's")
		}
	}
	deploy("helm4 install (server-side) -> bluegreen")
	assert.Equal(t, "green", a.activeColor())
	assert.Equal(t, "green", a.selectorColor())
	a.waitAutoscaled("green", 2)
	// The client-side upgrade dropped green's replicas: 0 and the API server defaulted it to 1;
	// the cutover leaves that field to no one, so the HPA's writes are not recorded either.
	assert.Empty(t, a.replicasOwners("green"), "managers of green's spec.replicas after bluegreen")

	// Helm 4 follows the apply method of the revision it upgrades: client-side after bluegreen.
	a.mustHelm4Upgrade("bluegreen -> helm4 (auto: client-side)", "--set", "activeColor=blue")
	assert.Equal(t, "blue", a.selectorColor())
	waitColor(t, a, "blue")
	_, method := a.helm4Metadata()
	assert.Equal(t, "csa", method)
	// Forced to server-side, Helm 4 takes over the "helm" manager's client-side fields, and
	// scales down green, which an HPA scaled, without a conflict on spec.replicas.
	a.mustHelm4Upgrade("bluegreen -> helm4 --server-side=true", "--server-side=true", "--set", "green.replicas=0", "--wait", "--timeout", "2m")
	_, method = a.helm4Metadata()
	assert.Equal(t, "ssa", method)
	desired, _ := deploymentReplicas(t, a, "green")
	assert.Zero(t, desired, "green scaled to zero")
	assert.True(t, a.hpaGone("green"), "green's HPA removed")
	svc, _ := a.objectManagers("blue")
	assert.NotContains(t, svc, "helm/Update", "Helm 4 took over the client-side fields of the Service")

	deploy("helm4 upgrade (server-side) -> bluegreen")
	assert.Equal(t, "green", a.activeColor())
	waitColor(t, a, "green")
	a.mustHelm4Upgrade("bluegreen -> helm4 (auto) again")
	stopLoad()
	res := waitLoad()
	assert.Zero(t, res.Non2xx+res.TransportErrors, "requests failed across the hand-overs")
	t.Logf("interop: hand-overs under load: %d requests, %d failed", res.Total, res.Non2xx+res.TransportErrors)
}

// TestHelm4AfterHelm3ClientSide: on a release Helm 3 installed client-side, Helm 4 upgrades
// client-side (it follows the release) and cuts over server-side when told to, taking over
// Helm 3's fields. Helm 3's create, though, left the active colour's spec.replicas to the
// HPA controller (see release.HelmStore.disownAutoscaledReplicas), so a server-side apply that
// scales that colour to zero conflicts with it until it is forced, or until a bluegreen run
// (which leaves the field to no one) comes between; traffic is untouched by the failure.
func TestHelm4AfterHelm3ClientSide(t *testing.T) {
	parallel(t)
	a := newApp(t, nil)
	require.Eventually(t, func() bool { return slices.Contains(a.replicasOwners("blue"), "kube-controller-manager/Update/scale") }, time.Minute, 200*time.Millisecond,
		"Helm 3's create owns blue's defaulted replicas, then the HPA takes them: owners %v", a.replicasOwners("blue"))
	t.Logf("interop: helm3 install (client-side): blue's spec.replicas owners %v", a.replicasOwners("blue"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	waitLoad := a.load(loadCtx, true, 3*time.Minute)

	a.mustHelm4Upgrade("helm3 -> helm4 (auto: client-side)", "--set", "green.image.tag="+stack.Versions[1], "--set", "green.replicas=null", "--wait", "--timeout", "2m")
	_, method := a.helm4Metadata()
	assert.Equal(t, "csa", method, "Helm 4 follows the client-side release")
	a.waitAutoscaled("green", 2)
	a.mustHelm4Upgrade("helm3 -> helm4 --server-side=true (cut over)", "--server-side=true", "--set", "activeColor=green")
	assert.Equal(t, "green", a.selectorColor())
	waitColor(t, a, "green")
	svc, _ := a.objectManagers("green")
	assert.NotContains(t, svc, "helm/Update", "Helm 4 took over Helm 3's fields of the Service")

	out, err := a.helm4Upgrade("--set", "blue.replicas=0")
	require.Error(t, err, "scaling blue down server-side over the HPA's spec.replicas")
	assert.Contains(t, out, `conflict with "kube-controller-manager" with subresource "scale"`)
	assert.Contains(t, out, ".spec.replicas")
	t.Logf("interop: helm3 install -> helm4 server-side scale-down of an HPA colour: conflict, as expected (%s)", lastLines(out, 1))
	_, blueReady := deploymentReplicas(t, a, "blue")
	assert.Equal(t, int32(2), blueReady, "the failed upgrade left blue running")
	assert.Equal(t, "green", a.selectorColor(), "and traffic on green")
	a.mustHelm4Upgrade("helm4 --force-conflicts (scale blue down)", "--force-conflicts", "--set", "blue.replicas=0", "--wait", "--timeout", "2m")
	desired, _ := deploymentReplicas(t, a, "blue")
	assert.Zero(t, desired, "blue scaled to zero")
	assert.True(t, a.hpaGone("blue"), "blue's HPA removed")
	stopLoad()
	res := waitLoad()
	assert.Positive(t, res.Counts["X-App-Color"]["green"], "green served requests")
	assert.Zero(t, res.Non2xx+res.TransportErrors, "requests failed across Helm 4's upgrades of a Helm 3 release")
	t.Logf("interop: helm3 -> helm4 under load: %d requests, %d from green, %d failed", res.Total, res.Counts["X-App-Color"]["green"], res.Non2xx+res.TransportErrors)
}
