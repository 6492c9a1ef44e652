package testsched

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two slots, both taken; five tests wait. As slots free, the longest expected goes first,
// an unknown test counts as DefaultCost, and equal costs keep their arrival order.
func TestWaitersGetSlotsLongestFirst(t *testing.T) {
	s := New(2, map[string]time.Duration{
		"short": 10 * time.Second, "long": 5 * time.Minute, "mid-a": 2 * time.Minute, "mid-b": 2 * time.Minute,
	})
	s.Acquire("first", 1)
	s.Acquire("second", 1)

	var (
		mu      sync.Mutex
		granted []string
		wg      sync.WaitGroup
	)
	waiters := []string{"short", "mid-a", "unknown", "mid-b", "long"}
	for _, name := range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Acquire(name, 1)
			mu.Lock()
			granted = append(granted, name)
			mu.Unlock()
		}()
		// Arrival order matters for equal costs: wait until this one is queued.
		require.Eventually(t, func() bool { return queued(s, name) }, 5*time.Second, time.Millisecond)
	}
	// One slot at a time, each new holder released before the next grant is read.
	s.Release("first", time.Second)
	for i := range waiters {
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(granted) == i+1
		}, 5*time.Second, time.Millisecond)
		mu.Lock()
		name := granted[i]
		mu.Unlock()
		s.Release(name, time.Second)
	}
	wg.Wait()
	assert.Equal(t, []string{"long", "mid-a", "mid-b", "unknown", "short"}, granted)

	// All released: the capacity is back, so two acquire without waiting.
	s.Release("second", time.Second)
	s.Acquire("again-1", 1)
	s.Acquire("again-2", 1)
}

func queued(s *Scheduler, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.waiting {
		if w.name == name {
			return true
		}
	}
	return false
}

// The times a run records replace the previous run's, tests it did not run keep theirs, and
// they survive a save and a load.
func TestTimesAreKeptBetweenRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "times.json")
	none, err := Load(path)
	require.NoError(t, err)
	assert.Empty(t, none)

	s := New(4, map[string]time.Duration{"kept": 3 * time.Minute, "rerun": time.Minute})
	s.Acquire("rerun", 1)
	s.Release("rerun", 90*time.Second)
	s.Acquire("new", 1)
	s.Release("new", 20*time.Second)
	require.NoError(t, Save(path, s.Took()))

	assert.Equal(t, []Run{{"rerun", 90 * time.Second}, {"new", 20 * time.Second}}, s.Ran(), "this run's tests only, longest first")

	got, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, map[string]time.Duration{"kept": 3 * time.Minute, "rerun": 90 * time.Second, "new": 20 * time.Second}, got)
	assert.Equal(t, 90*time.Second, New(1, got).Expected("rerun"))
	assert.Equal(t, DefaultCost, New(1, got).Expected("never-run"))
}

// Five tests announce themselves and arrive in an order that is not their cost's; none gets
// a slot before the last arrives, and then the two longest do, whatever their arrival order.
func TestTheFirstSlotsGoToTheLongestOnceAllArrived(t *testing.T) {
	s := New(2, map[string]time.Duration{"a": 10 * time.Second, "b": 5 * time.Minute, "c": 2 * time.Minute, "e": 3 * time.Minute})
	names := []string{"a", "b", "c", "d", "e"} // d has no recorded time: DefaultCost
	for range names {
		s.Announce()
	}
	granted := make(chan string, len(names))
	for i, name := range names {
		go func() {
			s.Acquire(name, 1)
			granted <- name
		}()
		require.Eventually(t, func() bool { return queued(s, name) || len(granted) > 0 }, 5*time.Second, time.Millisecond)
		if i < len(names)-1 {
			assert.Empty(t, granted, "a slot granted before every announced test arrived")
		}
	}
	first := []string{<-granted, <-granted}
	assert.ElementsMatch(t, []string{"b", "e"}, first, "the two longest start first")
	for _, want := range []string{"c", "d", "a"} {
		s.Release(first[0], time.Second)
		first = append(first[1:], <-granted)
		assert.Equal(t, want, first[1])
	}
}

// With the binary's -parallel below the tests announced, only that many can arrive: the
// first slots go out once they have.
func TestArrivalsBoundTheGathering(t *testing.T) {
	s := New(1, map[string]time.Duration{"long": time.Hour})
	s.Arrivals = 2
	for range 4 {
		s.Announce()
	}
	granted := make(chan string, 2)
	go func() { s.Acquire("short", 1); granted <- "short" }()
	require.Eventually(t, func() bool { return queued(s, "short") }, 5*time.Second, time.Millisecond)
	go func() { s.Acquire("long", 1); granted <- "long" }()
	assert.Equal(t, "long", <-granted)
	s.Release("long", time.Second)
	assert.Equal(t, "short", <-granted)
}

// A heavy test takes two of three slots: it waits at the head of the queue until two are
// free, and a light test behind it does not pass it meanwhile.
func TestAHeavyTestTakesTwoSlotsAndIsNotPassed(t *testing.T) {
	s := New(3, map[string]time.Duration{"heavy": time.Hour, "light": time.Second})
	s.Acquire("a", 1)
	s.Acquire("b", 1)
	granted := make(chan string, 2)
	go func() { s.Acquire("heavy", 2); granted <- "heavy" }()
	require.Eventually(t, func() bool { return queued(s, "heavy") }, 5*time.Second, time.Millisecond)
	go func() { s.Acquire("light", 1); granted <- "light" }()
	require.Eventually(t, func() bool { return queued(s, "light") }, 5*time.Second, time.Millisecond)
	// One slot is free: the heavy test needs two, and the light one waits behind it.
	assert.Empty(t, granted)
	s.Release("a", time.Second)
	assert.Equal(t, "heavy", <-granted)
	s.Release("b", time.Second)
	assert.Equal(t, "light", <-granted)
	s.Release("heavy", time.Second)
	s.Release("light", time.Second)
	// All three free again.
	s.Acquire("c", 1)
	s.Acquire("d", 2)
}

// A test that lends its slot lets the next waiter start while it goes on; its release then
// frees nothing more, so the capacity stays what it was.
func TestALentSlotGoesToTheNextWaiter(t *testing.T) {
	s := New(1, map[string]time.Duration{"soak": time.Hour, "next": time.Minute})
	s.Acquire("soak", 1)
	granted := make(chan string, 2)
	next := func() string {
		select {
		case name := <-granted:
			return name
		case <-time.After(5 * time.Second):
			t.Fatal("no slot granted in 5s")
			return ""
		}
	}
	go func() { s.Acquire("next", 1); granted <- "next" }()
	require.Eventually(t, func() bool { return queued(s, "next") }, 5*time.Second, time.Millisecond)
	assert.Empty(t, granted)
	s.Lend("soak")
	assert.Equal(t, "next", next())
	go func() { s.Acquire("after", 1); granted <- "after" }()
	require.Eventually(t, func() bool { return queued(s, "after") }, 5*time.Second, time.Millisecond)
	s.Release("soak", 2*time.Hour)
	assert.True(t, queued(s, "after"), "the lender's release frees no second slot")
	s.Release("next", time.Minute)
	assert.Equal(t, "after", next())
	assert.Equal(t, 2*time.Hour, s.Took()["soak"], "the lender's time is its whole run")
}
