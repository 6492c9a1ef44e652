// Package golden compares a test's output with a file checked into testdata, and
// rewrites the file instead when the test runs with -update.
package golden

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Assert fails t when got differs from the file at path, showing the diff; with
// update it writes got to path first. how tells the reader the command that updates it.
func Assert(t testing.TB, path, got string, update bool, how string) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("update %s: %v", path, err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file %s (create it with %s): %v", path, how, err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("output differs from %s (-want +got); if the change is intended, run %s:\n%s", path, how, diff)
	}
}
