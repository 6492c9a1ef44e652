package stack

import (
	"context"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// Switch is the moment a Service's selector changed colour.
type Switch struct {
	At    time.Time
	Color string
}

// SelectorWatch records every change of a Service's `color` selector, so a load run's
// timeline can be measured from the instant traffic was told to move.
type SelectorWatch struct {
	mu       sync.Mutex
	switches []Switch
	stop     context.CancelFunc
	done     chan struct{}
}

// WatchSelector watches the Service until Stop, each change stamped as it is delivered:
// a watch event comes within milliseconds of the write, where the poll it replaces was up
// to its 20 ms tick plus a GET late. The colour it first finds is where it starts, not a
// switch.
//
// It is watchtools.UntilWithSync, an informer on the one Service (field selector
// metadata.name): it re-lists when the watch closes or its resource version has expired
// ("too old resource version"), where a RetryWatcher gives up and the rest of a run would
// go unrecorded. A re-list may fold changes made while disconnected into one; for switches
// seconds apart that is the better trade.
func WatchSelector(cs kubernetes.Interface, ns, service string) *SelectorWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &SelectorWatch{stop: cancel, done: make(chan struct{})}
	byName := fields.OneTermEqualSelector(metav1.ObjectNameField, service).String()
	services := cs.CoreV1().Services(ns)
	// As client-go's generated informers build theirs: the wrapper tells the reflector
	// whether the client can stream its initial list (a fake clientset cannot).
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = byName
			return services.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = byName
			return services.Watch(ctx, opts)
		},
	}, cs)
	go func() {
		defer close(w.done)
		last := ""
		// The condition never holds, so UntilWithSync returns only when Stop ends ctx, and
		// only once its informer has stopped: its error is that interruption.
		_, _ = watchtools.UntilWithSync(ctx, lw, &corev1.Service{}, nil, func(ev watch.Event) (bool, error) {
			svc, ok := ev.Object.(*corev1.Service)
			if !ok || ev.Type == watch.Deleted {
				return false, nil
			}
			if color := svc.Spec.Selector["color"]; color != last {
				if last != "" {
					w.mu.Lock()
					w.switches = append(w.switches, Switch{At: time.Now(), Color: color})
					w.mu.Unlock()
				}
				last = color
			}
			return false, nil
		})
	}()
	return w
}

// Stop ends the watch and returns the switches it saw, in order. It returns once the
// watch has stopped, so every event it delivered is in the list; a change still on its
// way from the API server may be missed.
func (w *SelectorWatch) Stop() []Switch {
	w.stop()
	<-w.done
	return w.seen()
}

// seen is the switches recorded so far.
func (w *SelectorWatch) seen() []Switch {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.switches)
}
