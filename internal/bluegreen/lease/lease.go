// Package lease is the lock that lets one bluegreen run at a time work on a release: a
// Lease held through client-go's leader election, whose annotations record how far the
// holder got, so a run that takes over from a killed one can resume it.
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	leasesv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection"
	rl "k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// Annotations on the lock's Lease that record an operation's progress, so a run
// that was killed can be resumed by the next one.
const (
	annOperation = "bluegreen.ai-assistant.io/operation"
	annFrom      = "bluegreen.ai-assistant.io/from"
	annTo        = "bluegreen.ai-assistant.io/to"
	annStep      = "bluegreen.ai-assistant.io/step"
)

// ErrHeld: another run holds the release's lease, or took it from this one. Package bluegreen
// re-exports it as ErrLocked, which it also returns for the other reasons a release is busy.
var ErrHeld = errors.New("release is locked")

// Progress is what an operation recorded about itself on the lock.
type Progress struct {
	Operation string       `json:"operation"`
	From      values.Color `json:"from,omitempty"`
	To        values.Color `json:"to,omitempty"`
	Step      string       `json:"step,omitempty"`
}

// Info describes the lock's Lease for status.
type Info struct {
	Lease    string    `json:"lease"`
	Holder   string    `json:"holder,omitempty"`
	Held     bool      `json:"held"`
	Expires  time.Time `json:"expires,omitempty"`
	Progress Progress  `json:"progress"`
}

// Lease is the release's Lease, held through client-go's leader election: one run at a time,
// renewed in the background, and taken from a killed run only once this run has watched it go
// a whole lease duration without a renewal (the holder's clock is never compared with ours).
// Losing it cancels the run's context, so the run stops before its next step.
type Lease struct {
	lease *progressLease
	name  string

	stopElector context.CancelFunc
	electorDone chan struct{}
	releasing   atomic.Bool
}

func leaseName(releaseName string) string { return "bluegreen-" + releaseName }

// Name is the Lease's name, for messages.
func (l *Lease) Name() string { return l.name }

// Read returns the lease's holder and progress, or nil when there is none.
func Read(ctx context.Context, kube kubernetes.Interface, ns, releaseName string, now time.Time) (*Info, error) {
	l, err := kube.CoordinationV1().Leases(ns).Get(ctx, leaseName(releaseName), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get lease %s: %w", leaseName(releaseName), err)
	}
	return infoOf(l, now), nil
}

// infoOf is what status shows of a lease. Its expiry is the holder's last renewal plus the
// lease's duration, as the holder's clock wrote it: a hint for people. Taking the lock never
// relies on it.
func infoOf(l *coordinationv1.Lease, now time.Time) *Info {
	info := &Info{Lease: l.Name, Progress: progressOf(l)}
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
	return Progress{Operation: a[annOperation], From: values.Color(a[annFrom]), To: values.Color(a[annTo]), Step: a[annStep]}
}

// Acquire takes the lease, or refuses naming its holder once it has seen that holder renew
// it. A lease nobody renews for its whole duration (its run was killed) is taken over, and the
// progress that run recorded is returned so this one can resume it. The returned context is
// ctx, cancelled with an ErrHeld cause if the lease is lost.
func Acquire(ctx context.Context, kube kubernetes.Interface, ns, releaseName, holder, operation string, duration time.Duration, log func(string, ...any)) (*Lease, context.Context, Progress, error) {
	pl := &progressLease{leases: kube.CoordinationV1().Leases(ns), ns: ns, name: leaseName(releaseName), identity: holder, operation: operation}
	l := &Lease{lease: pl, name: pl.name, electorDone: make(chan struct{})}
	runCtx, cancelRun := context.WithCancelCause(ctx)
	acquired := make(chan struct{})
	// The kube-controller-manager's proportions (15 s, 10 s, 2 s), scaled to the duration.
	renewDeadline, retryPeriod := duration*2/3, max(duration/10, 100*time.Millisecond)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:          pl,
		Name:          pl.name,
		LeaseDuration: duration,
		RenewDeadline: renewDeadline,
		RetryPeriod:   retryPeriod,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(acquired) },
			OnStoppedLeading: func() {
				if !l.releasing.Load() {
					cancelRun(fmt.Errorf("%w: lost lease %s/%s (not renewed within %s, or taken by another run): stopped before the next step", ErrHeld, ns, pl.name, renewDeadline))
				}
			},
		},
	})
	if err != nil {
		cancelRun(nil)
		return nil, nil, Progress{}, fmt.Errorf("lease %s: %w", pl.name, err)
	}
	// The elector outlives an interrupt of ctx: the lease stays held until Release, which
	// records where the interrupted run stopped. Its own log lines are not the command's.
	electorCtx, stop := context.WithCancel(klog.NewContext(context.WithoutCancel(ctx), logr.Discard()))
	l.stopElector = stop
	go func() {
		defer close(l.electorDone)
		elector.Run(electorCtx)
	}()
	said := ""
	// A dead holder's lease is taken once this run has watched it go unrenewed for the duration
	// the holder recorded on it (the elector judges it so, as every client-go leader election
	// does: a live holder renews within the duration it promised, whatever ours is). An API
	// server that keeps failing (the elector only retries) is reported once twice the longer
	// of the two durations and a retry have passed.
	began := time.Now()
	giveUp := func() time.Duration {
		_, _, recorded := pl.heldBy()
		return 2*max(duration, recorded) + retryPeriod
	}
	timedOut := errors.New("lease not taken in time")
	// The poll ends the moment the elector takes the lease, not at its next tick: with the
	// command's 30 s lease a tick is 1.5 s, which every run used to wait after taking it.
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go func() {
		select {
		case <-acquired:
			stopPoll()
		case <-pollCtx.Done():
		}
	}()
	err = wait.PollUntilContextCancel(pollCtx, retryPeriod/2, true, func(context.Context) (bool, error) {
		select {
		case <-acquired:
			return true, nil
		default:
		}
		if who, op := pl.renewedBy(); who != "" {
			return false, fmt.Errorf("%w: %s is running %s on release %s (lease %s/%s, renewed while this run watched it)",
				ErrHeld, who, orUnknown(op), releaseName, ns, pl.name)
		}
		if who, op, recorded := pl.heldBy(); who != "" && who != said {
			log("  lease %s/%s is held by %s (%s): taken over if it is not renewed for %s", ns, pl.name, who, orUnknown(op), recorded)
			said = who
		}
		if time.Since(began) > giveUp() {
			return false, timedOut
		}
		return false, nil
	})
	select {
	case <-acquired:
		err = nil // taken, whatever the poll was doing when it was told
	default:
	}
	if err != nil {
		l.stop()
		cancelRun(nil)
		switch {
		case ctx.Err() != nil:
			err = context.Cause(ctx)
		case errors.Is(err, timedOut):
			if last := pl.lastError(); last != nil {
				err = fmt.Errorf("take lease %s/%s: gave up after %s: %w", ns, pl.name, giveUp(), last)
			} else {
				who, op, _ := pl.heldBy()
				err = fmt.Errorf("%w: %s is running %s on release %s (lease %s/%s, not given up within %s)", ErrHeld, who, orUnknown(op), releaseName, ns, pl.name, giveUp())
			}
		}
		return nil, nil, Progress{}, err
	}
	return l, runCtx, pl.takenOver(), nil
}

// OperationName names the recorded operation for messages: "an operation" when none was recorded.
func (p Progress) OperationName() string { return orUnknown(p.Operation) }

func orUnknown(s string) string {
	if s == "" {
		return "an operation"
	}
	return s
}

// stop ends the elector's renewals and waits for it to return.
func (l *Lease) stop() {
	l.releasing.Store(true)
	l.stopElector()
	<-l.electorDone
}

// Record stores progress on the lease, while this run holds it.
func (l *Lease) Record(ctx context.Context, p Progress) error { return l.lease.record(ctx, p) }

// Release ends the run's hold. finished deletes the lease and its record: the release is
// consistent. Otherwise the record stays for the next run to resume and only the holder is
// cleared, so that run need not wait for expiry. Either is done only to a lease this run
// still holds, with the resourceVersion it read as a precondition: a lease another run took
// over is left to it.
func (l *Lease) Release(finished bool) error {
	l.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pl := l.lease
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lease, err := pl.leases.Get(ctx, pl.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get lease %s: %w", pl.name, err)
		}
		if h := holderOf(lease); h != pl.identity {
			return fmt.Errorf("%w: lease %s is held by %q now, not by this run: left as it is", ErrHeld, pl.name, h)
		}
		if finished {
			err = pl.leases.Delete(ctx, pl.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &lease.UID, ResourceVersion: &lease.ResourceVersion}})
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			return nil
		}
		empty := ""
		lease.Spec.HolderIdentity = &empty
		_, err = pl.leases.Update(ctx, lease, metav1.UpdateOptions{})
		return err
	})
}

func holderOf(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// progressLease is a resourcelock.Interface on a Lease that also carries the operation's
// progress in its annotations. client-go's LeaseLock cannot: it keeps its own copy of the
// object, so a progress update made beside it would make its renewals conflict, or be undone.
// Here the renewals and the progress go through one cached object, one writer at a time. It
// also notes what it saw of other holders, so a refusal can say who renewed the lease.
type progressLease struct {
	leases             leasesv1.LeaseInterface
	ns, name, identity string
	operation          string

	mu    sync.Mutex
	lease *coordinationv1.Lease // as last read or written
	taken Progress              // what the lease recorded when this run took it over
	first *rl.LeaderElectionRecord
	alive string // another holder seen renewing, or taking, the lease
	op    string
	last  error // the last API error, which the elector only retries
}

var _ rl.Interface = (*progressLease)(nil)

func (p *progressLease) Get(ctx context.Context) (*rl.LeaderElectionRecord, []byte, error) {
	lease, err := p.leases.Get(ctx, p.name, metav1.GetOptions{})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			p.noteError(fmt.Errorf("get lease %s: %w", p.name, err))
		}
		return nil, nil, err
	}
	rec := rl.LeaseSpecToLeaderElectionRecord(&lease.Spec)
	raw, err := json.Marshal(*rec)
	if err != nil {
		return nil, nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lease = lease
	p.observe(rec, progressOf(lease).Operation)
	return rec, raw, nil
}

// observe notes another holder that renewed the lease (or took it) since this run first read it.
func (p *progressLease) observe(rec *rl.LeaderElectionRecord, op string) {
	if rec.HolderIdentity == "" || rec.HolderIdentity == p.identity {
		return
	}
	if p.first == nil {
		p.first = rec
		p.op = op
		return
	}
	if rec.HolderIdentity != p.first.HolderIdentity || !rec.RenewTime.Equal(&p.first.RenewTime) {
		p.alive, p.op = rec.HolderIdentity, op
	}
}

func (p *progressLease) Create(ctx context.Context, ler rl.LeaderElectionRecord) error {
	lease, err := p.leases.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: p.ns, Annotations: map[string]string{annOperation: p.operation}},
		Spec:       rl.LeaderElectionRecordToLeaseSpec(&ler),
	}, metav1.CreateOptions{})
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if !apierrors.IsAlreadyExists(err) {
			p.last = fmt.Errorf("create lease %s: %w", p.name, err)
		}
		return err
	}
	p.lease, p.last = lease, nil
	return nil
}

func (p *progressLease) Update(ctx context.Context, ler rl.LeaderElectionRecord) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lease == nil {
		return fmt.Errorf("lease %s not read yet", p.name)
	}
	next := p.lease.DeepCopy()
	takeover := holderOf(next) != p.identity
	next.Spec = rl.LeaderElectionRecordToLeaseSpec(&ler)
	updated, err := p.leases.Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		if !apierrors.IsConflict(err) {
			p.last = fmt.Errorf("update lease %s: %w", p.name, err)
		}
		return err
	}
	p.last = nil
	if takeover {
		p.taken = progressOf(p.lease)
	}
	p.lease = updated
	return nil
}

// record writes progress onto the lease; it fails with ErrHeld once another run holds it.
func (p *progressLease) record(ctx context.Context, prog Progress) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if p.lease == nil || holderOf(p.lease) != p.identity {
			return fmt.Errorf("%w: lease %s is no longer held by %s", ErrHeld, p.name, p.identity)
		}
		next := p.lease.DeepCopy()
		setProgress(next, prog)
		updated, err := p.leases.Update(ctx, next, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if fresh, gerr := p.leases.Get(ctx, p.name, metav1.GetOptions{}); gerr == nil {
				p.lease = fresh
			}
			return err
		}
		if err != nil {
			return fmt.Errorf("record progress on lease %s: %w", p.name, err)
		}
		p.lease = updated
		return nil
	})
}

func (p *progressLease) noteError(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = err
}

func (p *progressLease) lastError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

func (p *progressLease) renewedBy() (holder, operation string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.alive, p.op
}

// heldBy is the other holder this run first saw on the lease, its operation, and the lease
// duration it recorded.
func (p *progressLease) heldBy() (holder, operation string, recorded time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.first == nil {
		return "", "", 0
	}
	return p.first.HolderIdentity, p.op, time.Duration(p.first.LeaseDurationSeconds) * time.Second
}

func (p *progressLease) takenOver() Progress {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.taken
}

func (p *progressLease) RecordEvent(string) {}
func (p *progressLease) Identity() string   { return p.identity }
func (p *progressLease) Describe() string   { return p.ns + "/" + p.name }

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
