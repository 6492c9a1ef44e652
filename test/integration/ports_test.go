//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/gruntwork-io/terratest/modules/random"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	rl "k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/cluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/gitops"
)

// The main ports are shared by every test process that uses the cluster: two shells on this
// machine, or CI in another mount namespace beside a session (the kind cluster is the
// machine's Docker's, but /tmp is not shared). A process killed mid-test leaves its namespace
// behind, and its Service keeps the node port: the next run's releases then failed with
// "provided port is already allocated". So a port is held through a Lease in the cluster
// itself (client-go leader election: one holder, renewed while the test runs, free once it
// goes unrenewed for portLeaseDuration), and whoever takes it removes what a dead holder left
// on it.

const (
	// testNamespaceLabel marks the namespaces the suite creates, so a later run may delete
	// them when they hold a port it takes.
	testNamespaceLabel = "ai-assistant-chart/test"
	portLeaseNamespace = "kube-system"
	portLeaseDuration  = 45 * time.Second
)

// legacyTestNamespace matches the namespaces of runs older than testNamespaceLabel.
var legacyTestNamespace = regexp.MustCompile(`^(app|argo)-[a-z0-9]{6}$`)

// portHolder names this process in the leases it holds.
var portHolder = func() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/pid-%d/%s", host, os.Getpid(), strings.ToLower(random.UniqueId()))
}()

// takeMainPort takes a port of mainPorts until the test's cleanups have run (register it
// before the release, so it is given back after the release's Services are gone): first from
// this process's pool, then through the port's Lease in the cluster, which waits while another
// process holds it. Services a dead holder left on the port are then deleted with their
// namespace.
func takeMainPort(t *testing.T, c *cluster.Cluster) int {
	t.Helper()
	port := <-mainPorts
	t.Cleanup(func() { mainPorts <- port })
	leasePort(t, c, port)
	return port
}

// leasePort holds a node port's Lease until the test's cleanups have run, and then removes
// what a dead holder left on the port.
func leasePort(t *testing.T, c *cluster.Cluster, port int) {
	t.Helper()
	ctx, stop := context.WithCancel(klog.NewContext(context.Background(), logr.Discard()))
	acquired, done := make(chan struct{}), make(chan struct{})
	var stopped atomic.Bool
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &rl.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: portLeaseNamespace, Name: portLeaseName(port)},
			Client:     c.Clientset.CoordinationV1(),
			LockConfig: rl.ResourceLockConfig{Identity: portHolder + "/" + t.Name()},
		},
		LeaseDuration:   portLeaseDuration,
		RenewDeadline:   portLeaseDuration * 2 / 3,
		RetryPeriod:     2 * time.Second,
		ReleaseOnCancel: true, // the next holder need not wait for it to expire
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(acquired) },
			OnStoppedLeading: func() {
				if !stopped.Load() {
					t.Errorf("lost the lease of node port %d while the test ran (not renewed within %s): another run may take the port", port, portLeaseDuration*2/3)
				}
			},
		},
	})
	if err != nil {
		stop()
		t.Fatalf("lease of node port %d: %v", port, err)
	}
	go func() {
		defer close(done)
		elector.Run(ctx)
	}()
	t.Cleanup(func() {
		stopped.Store(true)
		stop()
		<-done
	})
	began := time.Now()
	select {
	case <-acquired:
	case <-time.After(15 * time.Minute):
		t.Fatalf("node port %d: its lease in %s was not given up within 15m", port, portLeaseNamespace)
	}
	if waited := time.Since(began); waited > 5*time.Second {
		t.Logf("waited %s for the lease of node port %d", waited.Round(100*time.Millisecond), port)
	}
	require.NoError(t, removeStaleHolders(t, c, port))
}

func portLeaseName(port int) string { return fmt.Sprintf("ai-assistant-chart-nodeport-%d", port) }

// removeStaleHolders deletes what holds a node port this process now leases: a test
// namespace's Service (with any Argo CD Application that would sync it back, and the
// namespace). A Service of any other namespace is reported, never deleted.
func removeStaleHolders(t *testing.T, c *cluster.Cluster, port int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	svcs, err := c.Clientset.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list Services: %w", err)
	}
	for _, s := range svcs.Items {
		if !usesNodePort(s, port) {
			continue
		}
		ns, err := c.Clientset.CoreV1().Namespaces().Get(ctx, s.Namespace, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("namespace of Service %s/%s on node port %d: %w", s.Namespace, s.Name, port, err)
		}
		if ns.Labels[testNamespaceLabel] != "true" && !legacyTestNamespace.MatchString(ns.Name) {
			return fmt.Errorf("node port %d is held by Service %s/%s, which no test created: delete it, or free the port", port, s.Namespace, s.Name)
		}
		t.Logf("node port %d: removing namespace %s, left by a run that no longer holds the port", port, s.Namespace)
		// With selfHeal, an Application left behind would create the Service again.
		if err := gitops.DeleteApplicationsInto(ctx, c.RESTConfig, s.Namespace); err != nil {
			return err
		}
		if err := c.Clientset.CoreV1().Services(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete Service %s/%s: %w", s.Namespace, s.Name, err)
		}
		if err := c.Clientset.CoreV1().Namespaces().Delete(ctx, s.Namespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete namespace %s: %w", s.Namespace, err)
		}
	}
	return nil
}

func usesNodePort(s corev1.Service, port int) bool {
	for _, p := range s.Spec.Ports {
		if int(p.NodePort) == port {
			return true
		}
	}
	return false
}

// createTestNamespace creates a namespace named prefix-<random> that enforces Pod Security
// "restricted" and carries testNamespaceLabel. Its deletion is the caller's.
func createTestNamespace(t *testing.T, c *cluster.Cluster, prefix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := prefix + "-" + strings.ToLower(random.UniqueId())
	_, err := c.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: name,
		Labels: map[string]string{
			testNamespaceLabel:                   "true",
			"pod-security.kubernetes.io/enforce": "restricted",
			"pod-security.kubernetes.io/warn":    "restricted",
		},
	}}, metav1.CreateOptions{})
	require.NoError(t, err, "create namespace %s", name)
	return name
}

// TestAPortLeftByADeadRunIsTakenBack plays a test process killed mid-test: its port's Lease
// is never renewed again and its namespace keeps a Service on the port. The next taker waits
// out the lease the dead holder recorded, then deletes that namespace, so its release can
// have the port. A Service on the port in a namespace no test created is named, not deleted.
func TestAPortLeftByADeadRunIsTakenBack(t *testing.T) {
	parallel(t)
	c, _ := appCluster(t)
	port := <-mainPorts // this process's other tests leave it alone from here on
	t.Cleanup(func() { mainPorts <- port })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The dead run: a lease it renewed a moment ago for 3 s, and its namespace's Service.
	leases := c.Clientset.CoordinationV1().Leases(portLeaseNamespace)
	dead, seconds, now := "dead-run/pid-1", int32(3), metav1.NewMicroTime(time.Now())
	_ = leases.Delete(ctx, portLeaseName(port), metav1.DeleteOptions{}) // a lease this process gave up
	_, err := leases.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: portLeaseName(port)},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &dead, LeaseDurationSeconds: &seconds, AcquireTime: &now, RenewTime: &now},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	left := createTestNamespace(t, c, "app")
	t.Cleanup(func() {
		_ = c.Clientset.CoreV1().Namespaces().Delete(context.Background(), left, metav1.DeleteOptions{})
	})
	createNodePortService(ctx, t, c, left, port)

	began := time.Now()
	leasePort(t, c, port)
	t.Logf("took node port %d from the dead run in %s", port, time.Since(began).Round(100*time.Millisecond))
	l, err := leases.Get(ctx, portLeaseName(port), metav1.GetOptions{})
	require.NoError(t, err)
	require.NotNil(t, l.Spec.HolderIdentity)
	require.True(t, strings.HasPrefix(*l.Spec.HolderIdentity, portHolder), "the lease is held by %s, not this process", *l.Spec.HolderIdentity)
	_, err = c.Clientset.CoreV1().Services(left).Get(ctx, "left", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "the dead run's Service is still there: %v", err)
	ns, err := c.Clientset.CoreV1().Namespaces().Get(ctx, left, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err) || ns.DeletionTimestamp != nil, "the dead run's namespace %s is not being deleted: %v", left, err)

	// Someone else's Service on the port: named in the error, left in place.
	other := "not-a-test-" + strings.ToLower(random.UniqueId())
	_, err = c.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = c.Clientset.CoreV1().Namespaces().Delete(context.Background(), other, metav1.DeleteOptions{})
	})
	createNodePortService(ctx, t, c, other, port)
	err = removeStaleHolders(t, c, port)
	require.ErrorContains(t, err, other+"/left")
	_, err = c.Clientset.CoreV1().Services(other).Get(ctx, "left", metav1.GetOptions{})
	require.NoError(t, err, "a Service no test created was deleted")
	require.NoError(t, c.Clientset.CoreV1().Services(other).Delete(ctx, "left", metav1.DeleteOptions{}))
}

// createNodePortService creates a Service named "left" on a node port in ns.
func createNodePortService(ctx context.Context, t *testing.T, c *cluster.Cluster, ns string, port int) {
	t.Helper()
	_, err := c.Clientset.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "left"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "none"},
			Ports: []corev1.ServicePort{{Port: 80, NodePort: int32(port)}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err, "create a Service on node port %d in %s", port, ns)
}
