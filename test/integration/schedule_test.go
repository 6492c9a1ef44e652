//go:build integration

package integration

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/machinecache"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/testsched"
)

// Every test runs in parallel through parallel(t): `go test -parallel` lets them all start
// (hack/test.sh passes a large one) and suiteSlots holds them to INTEGRATION_PARALLEL at once
// (4 by default), longest first by the times this machine recorded in its last run (the
// first four once all have arrived), so the long ones do not start late and run alone at the
// end. A slot is held until the test's cleanups have run: a namespace being deleted still
// costs the cluster.
var (
	timesPath  = filepath.Join(machinecache.Dir(repoRoot, "test-times", "test-times"), "integration.json")
	suiteSlots = func() *testsched.Scheduler {
		slots, err := strconv.Atoi(os.Getenv("INTEGRATION_PARALLEL"))
		if err != nil || slots < 1 {
			slots = 4
		}
		times, err := testsched.Load(timesPath)
		if err != nil {
			fmt.Fprintf(os.Stderr, "    test times: %v (tests start in any order)\n", err)
		}
		return testsched.New(slots, times)
	}()
	arrivalsOnce sync.Once
)

// parallel marks t parallel and waits for its slot.
func parallel(t *testing.T) {
	t.Helper()
	parallelWeighing(t, 1)
}

// heavy is parallel for a test that takes two slots: the load it drives (TLS handshakes on
// every request through the Ingress) would otherwise starve the three tests beside it, and
// them it, on two cores.
func heavy(t *testing.T) {
	t.Helper()
	parallelWeighing(t, 2)
}

func parallelWeighing(t *testing.T, slots int) {
	t.Helper()
	arrivalsOnce.Do(func() { // flags are parsed by now, not when the package's vars are made
		if f := flag.Lookup("test.parallel"); f != nil {
			suiteSlots.Arrivals, _ = strconv.Atoi(f.Value.String()) // go test's own bound on running tests
		}
	})
	suiteSlots.Announce() // before t.Parallel: it returns once every test has announced itself
	t.Parallel()
	waited := time.Now()
	suiteSlots.Acquire(t.Name(), slots)
	began := time.Now()
	t.Logf("slot taken after %s (expected to take %s)", began.Sub(waited).Round(time.Second), suiteSlots.Expected(t.Name()).Round(time.Second))
	t.Cleanup(func() { suiteSlots.Release(t.Name(), time.Since(began)) }) // the first registered: runs last
}

// lendSlot gives the slots of t's top-level test to the tests waiting while the rest of it
// only waits on the cluster; it runs to its end without one.
func lendSlot(t *testing.T) {
	t.Helper()
	name, _, _ := strings.Cut(t.Name(), "/")
	suiteSlots.Lend(name)
	t.Logf("slot lent: %s only waits from here", name)
}

// slotTimesPath is where hack/test.sh finds this run's times to print (go test's own elapsed
// times count the wait for a slot too, and gotestsum does not show what TestMain prints).
var slotTimesPath = filepath.Join(repoRoot, ".cache", "integration-slots.txt")

// saveTestTimes records this run's times for the next run's order, and the longest of them
// for hack/test.sh to print.
func saveTestTimes() error {
	var b strings.Builder
	for _, r := range suiteSlots.Ran() {
		fmt.Fprintf(&b, "  %7.1fs %s\n", r.Took.Seconds(), r.Name)
	}
	if err := os.WriteFile(slotTimesPath, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return testsched.Save(timesPath, suiteSlots.Took())
}
