package bluegreen

import (
	"context"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// Annotations on the lock's Lease that record an operation's progress, so a run
// that was killed can be resumed by the next one.
const (
	annOperation = "bluegreen.ai-assistant.io/operation"
	annFrom      = "bluegreen.ai-assistant.io/from"
	annTo        = "bluegreen.ai-assistant.io/to"
	annStep      = "bluegreen.ai-assistant.io/step"
)

// StepSwitched marks a switch whose verification has not finished yet.
const StepSwitched = "switched"

// Progress is what an operation recorded about itself on the lock.
type Progress struct {
	Operation string `json:"operation"`
	From      Color  `json:"from,omitempty"`
	To        Color  `json:"to,omitempty"`
	Step      string `json:"step,omitempty"`
}

// LockInfo describes the lock's Lease for status.
type LockInfo struct {
	Lease    string    `json:"lease"`
	Holder   string    `json:"holder,omitempty"`
	Held     bool      `json:"held"`
	Expires  time.Time `json:"expires,omitempty"`
	Progress Progress  `json:"progress"`
}

// lock is a coordination.k8s.io Lease named after the release: one run at a time.
type lock struct {
	kube     kubernetes.Interface
	ns, name string
	holder   string
	duration time.Duration
	now      func() time.Time

	mu     sync.Mutex
	stop   chan struct{}
	done   chan struct{}
	record Progress
}

func leaseName(releaseName string) string { return "bluegreen-" + releaseName }

// readLock returns the lease's holder and progress, or nil when there is none.
func readLock(ctx context.Context, kube kubernetes.Interface, ns, releaseName string, now time.Time) (*LockInfo, error) {
	l, err := kube.CoordinationV1().Leases(ns).Get(ctx, leaseName(releaseName), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get lease %s: %w", leaseName(releaseName), err)
	}
	return lockInfo(l, now), nil
}

func lockInfo(l *coordinationv1.Lease, now time.Time) *LockInfo {
	info := &LockInfo{Lease: l.Name, Progress: progressOf(l)}
	if l.Spec.HolderIdentity != nil {
		info.Holder = *l.Spec.HolderIdentity
	}
	if info.Holder != "" && l.Spec.RenewTime != nil && l.Spec.LeaseDurationSeconds != nil {
		info.Expires = l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
		info.Held = now.Before(info.Expires)
	}
	return info
}

func progressOf(l *coordinationv1.Lease) Progress {
	a := l.Annotations
	return Progress{Operation: a[annOperation], From: Color(a[annFrom]), To: Color(a[annTo]), Step: a[annStep]}
}

// acquireLock takes the lease, or refuses naming its holder. A lease whose holder
// stopped renewing (killed) is taken over; its progress record is returned so the
// new run can resume.
func acquireLock(ctx context.Context, kube kubernetes.Interface, ns, releaseName, holder, operation string, duration time.Duration, now func() time.Time) (*lock, Progress, error) {
	l := &lock{kube: kube, ns: ns, name: leaseName(releaseName), holder: holder, duration: duration, now: now}
	leases := kube.CoordinationV1().Leases(ns)
	t := metav1.NewMicroTime(now())
	secs := int32(duration / time.Second)
	existing, err := leases.Get(ctx, l.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: l.name, Namespace: ns, Annotations: map[string]string{annOperation: operation}},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &t, RenewTime: &t},
		}
		if _, err := leases.Create(ctx, lease, metav1.CreateOptions{}); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return nil, Progress{}, fmt.Errorf("%w: lease %s was taken by another run just now", ErrLocked, l.name)
			}
			return nil, Progress{}, fmt.Errorf("create lease %s: %w", l.name, err)
		}
		l.record = Progress{Operation: operation}
	case err != nil:
		return nil, Progress{}, fmt.Errorf("get lease %s: %w", l.name, err)
	default:
		info := lockInfo(existing, now())
		if info.Held {
			return nil, Progress{}, fmt.Errorf("%w: %s is running %s on release %s (lease %s/%s, expires %s unless renewed)",
				ErrLocked, info.Holder, orUnknown(info.Progress.Operation), releaseName, ns, l.name, info.Expires.UTC().Format(time.RFC3339))
		}
		prev := info.Progress
		existing.Spec.HolderIdentity, existing.Spec.LeaseDurationSeconds = &holder, &secs
		existing.Spec.AcquireTime, existing.Spec.RenewTime = &t, &t
		// The update carries the read resourceVersion: two runs racing for an
		// expired lease cannot both win.
		if _, err := leases.Update(ctx, existing, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsConflict(err) {
				return nil, Progress{}, fmt.Errorf("%w: lease %s was taken by another run just now", ErrLocked, l.name)
			}
			return nil, Progress{}, fmt.Errorf("take over lease %s: %w", l.name, err)
		}
		l.record = prev
		l.stop, l.done = make(chan struct{}), make(chan struct{})
		go l.renew()
		return l, prev, nil
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.renew()
	return l, Progress{}, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "an operation"
	}
	return s
}

// renew keeps the lease ours while the run goes on.
func (l *lock) renew() {
	defer close(l.done)
	t := time.NewTicker(l.duration / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), l.duration/3)
			_ = l.update(ctx, func(*coordinationv1.Lease) {}) // a missed renewal is retried on the next tick
			cancel()
		}
	}
}

// Record stores progress on the lease.
func (l *lock) Record(ctx context.Context, p Progress) error {
	return l.update(ctx, func(lease *coordinationv1.Lease) {
		setProgress(lease, p)
	})
}

func setProgress(lease *coordinationv1.Lease, p Progress) {
	if lease.Annotations == nil {
		lease.Annotations = map[string]string{}
	}
	for k, v := range map[string]string{annOperation: p.Operation, annFrom: string(p.From), annTo: string(p.To), annStep: p.Step} {
		if v == "" {
			delete(lease.Annotations, k)
		} else {
			lease.Annotations[k] = v
		}
	}
}

func (l *lock) update(ctx context.Context, mutate func(*coordinationv1.Lease)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	leases := l.kube.CoordinationV1().Leases(l.ns)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lease, err := leases.Get(ctx, l.name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get lease %s: %w", l.name, err)
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != l.holder {
			return fmt.Errorf("%w: lease %s is no longer held by %s", ErrLocked, l.name, l.holder)
		}
		mutate(lease)
		t := metav1.NewMicroTime(l.now())
		lease.Spec.RenewTime = &t
		if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
			return err
		}
		return nil
	})
}

// Release ends the run's hold. finished deletes the lease and its record: the
// release is consistent. Otherwise the record stays for the next run to resume and
// only the holder is cleared, so that run need not wait for expiry.
func (l *lock) Release(finished bool) error {
	close(l.stop)
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if finished {
		err := l.kube.CoordinationV1().Leases(l.ns).Delete(ctx, l.name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete lease %s: %w", l.name, err)
		}
		return nil
	}
	return l.update(ctx, func(lease *coordinationv1.Lease) {
		empty := ""
		lease.Spec.HolderIdentity = &empty
	})
}
