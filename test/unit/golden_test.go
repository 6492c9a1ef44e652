package unit

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/golden"
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

	golden.Assert(t, filepath.Join("testdata", "default.golden.yaml"), got, *update, "go test ./test/unit -run TestGoldenDefaultRender -update")
}

// TestDefaultRenderIsValid validates every object of the default render against the schemas
// and the restricted Pod Security profile (the ci/ scenarios are checked in TestScenarios).
func TestDefaultRenderIsValid(t *testing.T) {
	t.Parallel()
	r := render(t, nil)
	assertValidAgainstSchemas(t, r)
	assertPodSecurityRestricted(t, r)
}
