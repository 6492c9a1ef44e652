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
	s.Acquire("first")
	s.Acquire("second")

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
			s.Acquire(name)
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
	s.Acquire("again-1")
	s.Acquire("again-2")
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
	s.Acquire("rerun")
	s.Release("rerun", 90*time.Second)
	s.Acquire("new")
	s.Release("new", 20*time.Second)
	require.NoError(t, Save(path, s.Took()))

	got, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, map[string]time.Duration{"kept": 3 * time.Minute, "rerun": 90 * time.Second, "new": 20 * time.Second}, got)
	assert.Equal(t, 90*time.Second, New(1, got).Expected("rerun"))
	assert.Equal(t, DefaultCost, New(1, got).Expected("never-run"))
}
