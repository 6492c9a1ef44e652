//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/cluster"
)

// Clusters a test made for itself are deleted after the whole suite, not when the test ends:
// removing a kind cluster's node containers disturbs loopback traffic to the shared cluster's
// node ports (every test sending load then saw connections reset within the same second), so
// it must not happen while other tests measure failed requests.
var (
	deleteMu    sync.Mutex
	deleteAfter []cluster.Options
)

// deleteAfterSuite deletes the cluster o once every test has finished.
func deleteAfterSuite(o cluster.Options) {
	deleteMu.Lock()
	defer deleteMu.Unlock()
	deleteAfter = append(deleteAfter, o)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if err := saveTestTimes(); err != nil {
		fmt.Fprintf(os.Stderr, "save the test times: %v\n", err)
	}
	if err := removeStacks(); err != nil {
		fmt.Fprintf(os.Stderr, "remove the stacks: %v\n", err)
		code = 1
	}
	for _, o := range deleteAfter {
		fmt.Fprintf(os.Stderr, "deleting cluster %s after the suite\n", o.Name)
		if err := cluster.Delete(context.Background(), o); err != nil {
			fmt.Fprintf(os.Stderr, "delete cluster %s: %v\n", o.Name, err)
			code = 1
		}
	}
	os.Exit(code)
}
