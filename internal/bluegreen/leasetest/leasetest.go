// Package leasetest runs a stand-in for another live bluegreen run: a holder that keeps
// renewing the release's Lease, as a running command's leader election does.
package leasetest

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	leasesv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
)

// Hold makes holder the lease's holder, recording operation (creating the lease, or taking
// it from whoever holds it, as a run that stole it would), and renews it every 100 ms until
// the test ends.
func Hold(t testing.TB, leases leasesv1.LeaseInterface, name, holder, operation string) {
	t.Helper()
	secs := int32(30)
	now := metav1.NewMicroTime(time.Now())
	spec := coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now}
	ann := map[string]string{"bluegreen.ai-assistant.io/operation": operation}
	l, err := leases.Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(context.Background(), &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann}, Spec: spec}, metav1.CreateOptions{})
	} else if err == nil {
		l.Spec, l.Annotations = spec, ann
		_, err = leases.Update(context.Background(), l, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatalf("hold lease %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		wait.UntilWithContext(ctx, func(ctx context.Context) {
			l, err := leases.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return // the next tick tries again, as a real renewal would
			}
			renewed := metav1.NewMicroTime(time.Now())
			l.Spec.RenewTime = &renewed
			_, _ = leases.Update(ctx, l, metav1.UpdateOptions{})
		}, 100*time.Millisecond)
	}()
}
