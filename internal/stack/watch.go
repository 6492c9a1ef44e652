package stack

import (
	"context"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
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

// WatchSelector polls the Service every 20 ms until Stop. It polls rather than watches: a
// watch adds its own delivery delay to the instant it reports.
func WatchSelector(cs kubernetes.Interface, ns, service string) *SelectorWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &SelectorWatch{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		last := ""
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			svc, err := cs.CoreV1().Services(ns).Get(ctx, service, metav1.GetOptions{})
			if err == nil && svc.Spec.Selector["color"] != last {
				if last != "" {
					w.mu.Lock()
					w.switches = append(w.switches, Switch{At: time.Now(), Color: svc.Spec.Selector["color"]})
					w.mu.Unlock()
				}
				last = svc.Spec.Selector["color"]
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// Stop ends the watch and returns the switches it saw, in order.
func (w *SelectorWatch) Stop() []Switch {
	w.stop()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.switches)
}
