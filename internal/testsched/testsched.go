// Package testsched runs a suite's parallel tests longest first, at most N at once, from the
// times the same tests took in the previous run on the machine.
//
// `go test -parallel N` starts paused tests in no set order, so a 4-minute test could start
// last and run alone at the end while the machine idled (the integration suite's last 130 s
// had one or two tests left). Starting the longest tests first (LPT scheduling) keeps the
// slots full until the end. x/sync/semaphore grants in arrival order and no library grants by
// priority, hence this small one.
//
// The first slots are granted once every test that can arrive has: each test announces
// itself before t.Parallel(), which returns only after every top-level test of the run has
// reached it, so by then the count is final and no timer is needed.
package testsched

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// DefaultCost is what a test with no recorded time is expected to take.
const DefaultCost = time.Minute

// Scheduler grants at most its capacity of slots at once, to the waiting test expected to take
// longest. Its zero value is not usable: see New.
type Scheduler struct {
	// Arrivals bounds how many tests can wait at once, when the test binary's own -parallel is
	// below the number announced (the rest are held inside t.Parallel until others end); 0 is
	// no bound.
	Arrivals int

	capacity int

	mu        sync.Mutex
	free      int
	holding   map[string]int // slots held, by test
	announced int
	started   bool // the first slots were granted
	waiting   []*waiter
	expected  map[string]time.Duration // from the previous run
	took      map[string]time.Duration // this run's
}

type waiter struct {
	name   string
	cost   time.Duration
	weight int
	ready  chan struct{}
}

// New returns a Scheduler of capacity slots (at least 1) that expects the times in expected.
func New(capacity int, expected map[string]time.Duration) *Scheduler {
	capacity = max(capacity, 1)
	return &Scheduler{capacity: capacity, free: capacity, expected: expected, took: map[string]time.Duration{}, holding: map[string]int{}}
}

// Expected is what the scheduler expects the named test to take.
func (s *Scheduler) Expected(name string) time.Duration {
	if d, ok := s.expected[name]; ok {
		return d
	}
	return DefaultCost
}

// Announce counts a test that will call Acquire. Call it before t.Parallel().
func (s *Scheduler) Announce() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.announced++
}

// Acquire blocks until the named test holds weight slots (a heavy test may take two of four,
// so that fewer tests share the machine with it). No slot is granted until every announced
// test (or Arrivals of them) waits; from then on, as slots free, the waiting test expected to
// take longest gets them once enough are free (equal costs in arrival order), and no lighter
// test passes it meanwhile, so a heavy test is never starved.
func (s *Scheduler) Acquire(name string, weight int) {
	weight = min(max(weight, 1), s.capacity)
	s.mu.Lock()
	s.holding[name] = weight
	if s.started && s.free >= weight && len(s.waiting) == 0 {
		s.free -= weight
		s.mu.Unlock()
		return
	}
	w := &waiter{name: name, cost: s.Expected(name), weight: weight, ready: make(chan struct{})}
	// Insert after every waiter that costs as much or more: stable, longest first.
	i, _ := slices.BinarySearchFunc(s.waiting, w.cost, func(x *waiter, cost time.Duration) int {
		if x.cost >= cost {
			return -1
		}
		return 1
	})
	s.waiting = slices.Insert(s.waiting, i, w)
	if !s.started && len(s.waiting) >= s.gathered() {
		s.started = true
		s.grant()
	}
	s.mu.Unlock()
	<-w.ready
}

// gathered is how many waiting tests start the first grants: every announced test, at most
// Arrivals, at least one (a test that did not announce itself still runs).
func (s *Scheduler) gathered() int {
	n := s.announced
	if s.Arrivals > 0 {
		n = min(n, s.Arrivals)
	}
	return max(n, 1)
}

// grant hands free slots to the waiters in order while the first one fits.
func (s *Scheduler) grant() {
	for len(s.waiting) > 0 && s.waiting[0].weight <= s.free {
		next := s.waiting[0]
		s.waiting = s.waiting[1:]
		s.free -= next.weight
		close(next.ready)
	}
}

// Lend gives the named test's slots to the next waiters while the test goes on: for a test
// whose rest only waits on the cluster (a soak that reads a status once a second), so that
// another test uses the machine meanwhile. Its Release then records its time and frees nothing
// more.
func (s *Scheduler) Lend(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.free += s.holding[name]
	s.holding[name] = 0
	s.grant()
}

// Release gives the named test's slots to the next waiters and records how long it took.
func (s *Scheduler) Release(name string, took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.took[name] = took
	s.free += s.holding[name]
	delete(s.holding, name)
	s.grant()
}

// Ran is this run's times, longest first.
func (s *Scheduler) Ran() []Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	runs := make([]Run, 0, len(s.took))
	for name, took := range s.took {
		runs = append(runs, Run{Name: name, Took: took})
	}
	slices.SortFunc(runs, func(a, b Run) int { return cmp.Or(cmp.Compare(b.Took, a.Took), cmp.Compare(a.Name, b.Name)) })
	return runs
}

// Run is how long one test held its slot.
type Run struct {
	Name string
	Took time.Duration
}

// Took is the times recorded by Release in this run, merged over expected (a test this run
// did not run keeps its previous time).
func (s *Scheduler) Took() map[string]time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make(map[string]time.Duration, len(s.expected)+len(s.took))
	for k, v := range s.expected {
		all[k] = v
	}
	for k, v := range s.took {
		all[k] = v
	}
	return all
}

// Load reads times saved by Save; a missing file is no times.
func Load(path string) (map[string]time.Duration, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]time.Duration{}, nil
	}
	if err != nil {
		return nil, err
	}
	var secs map[string]float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	times := make(map[string]time.Duration, len(secs))
	for k, v := range secs {
		times[k] = time.Duration(v * float64(time.Second))
	}
	return times, nil
}

// Save writes times as seconds by test name, replacing the file whole (a rename), so a
// concurrent reader sees the old or the new times, never half of them.
func Save(path string, times map[string]time.Duration) error {
	secs := make(map[string]float64, len(times))
	for k, v := range times {
		secs[k] = v.Round(100 * time.Millisecond).Seconds()
	}
	b, err := json.MarshalIndent(secs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".times-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
