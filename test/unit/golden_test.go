package unit

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from the current render")

// TestGoldenDefaultRender compares the default render, hooks included, with
// testdata/default.golden.yaml, so every change to the output is seen in review. After an
// intended change: go test ./test/unit -run TestGoldenDefaultRender -update
func TestGoldenDefaultRender(t *testing.T) {
	t.Parallel()
	rel, err := renderRelease(t, nil, kubeVersion)
	require.NoError(t, err)
	var b strings.Builder
	b.WriteString(rel.Manifest)
	for _, h := range rel.Hooks {
		b.WriteString("\n---\n# Source: " + h.Path + "\n" + h.Manifest + "\n")
	}
	got := b.String()

	path := filepath.Join("testdata", "default.golden.yaml")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "read golden file (create it with -update)")
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("default render differs from %s (-want +got); rerun with -update if intended:\n%s", path, diff)
	}
}

// TestDefaultRenderIsValid validates every object of the default render against the schemas
// and the restricted Pod Security profile (the ci/ scenarios are checked in TestScenarios).
func TestDefaultRenderIsValid(t *testing.T) {
	t.Parallel()
	r := render(t, nil)
	assertValidAgainstSchemas(t, r)
	assertPodSecurityRestricted(t, r)
}
