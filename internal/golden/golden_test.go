package golden

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder keeps what Assert reported instead of failing the test that runs it.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Errorf(format string, args ...any) { r.errors = append(r.errors, format) }

func TestAssertUpdatesThenCompares(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "out.golden")
	r := &recorder{TB: t}
	Assert(r, path, "first\n", true, "go test -update")
	Assert(r, path, "first\n", false, "go test -update")
	require.Empty(t, r.errors, "an updated file matches")

	Assert(r, path, "second\n", false, "go test -update")
	require.Len(t, r.errors, 1, "a different output is reported")
	assert.Contains(t, r.errors[0], "differs from")
}
