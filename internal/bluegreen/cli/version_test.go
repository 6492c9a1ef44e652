package cli_test

import (
	"context"
	"encoding/json"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/cli"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/buildinfo"
)

// The version and commit come from the link-time stamp, so a release binary names the
// source it was built from. Not parallel: it sets the stamp.
func TestVersionPrintsTheStamp(t *testing.T) {
	version, commit := buildinfo.Version, buildinfo.Commit
	t.Cleanup(func() { buildinfo.Version, buildinfo.Commit = version, commit })
	buildinfo.Version, buildinfo.Commit = "0.3.0", "0123456789abcdef"

	code, out, _ := run(context.Background(), nil, "version")
	require.Equal(t, cli.ExitOK, code)
	assert.Equal(t, "bluegreen 0.3.0 (commit 0123456789abcdef, "+runtime.Version()+", "+runtime.GOOS+"/"+runtime.GOARCH+")\n", out)

	code, out, _ = run(context.Background(), nil, "version", "-o", "json")
	require.Equal(t, cli.ExitOK, code)
	var v cli.VersionInfo
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	assert.Equal(t, cli.VersionInfo{Version: "0.3.0", Commit: "0123456789abcdef", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}, v)

	code, _, errOut := run(context.Background(), nil, "version", "-o", "yaml")
	assert.Equal(t, cli.ExitBadInput, code)
	assert.Contains(t, errOut, "--output must be text or json")
}

// Completion goes through cobra: a script per shell, and the hidden __complete command the
// scripts call, which completes flags and the values of --output without a cluster.
func TestShellCompletion(t *testing.T) {
	t.Parallel()
	for shell, marker := range map[string]string{
		"bash":       "__start_bluegreen",
		"zsh":        "#compdef bluegreen",
		"fish":       "complete -c bluegreen",
		"powershell": "Register-ArgumentCompleter",
	} {
		code, out, errOut := run(context.Background(), nil, "completion", shell)
		require.Equal(t, cli.ExitOK, code, "completion %s: %s", shell, errOut)
		assert.Contains(t, out, marker, "completion %s", shell)
	}

	code, out, _ := run(context.Background(), nil, "__complete", "deploy", "--gate-p")
	require.Equal(t, cli.ExitOK, code)
	assert.Contains(t, out, "--gate-passes\tconsecutive passes the health gate needs")
	assert.NotContains(t, out, "--gate-interval", "completes only what matches the prefix")

	code, out, _ = run(context.Background(), nil, "__complete", "status", "-o", "")
	require.Equal(t, cli.ExitOK, code)
	assert.Equal(t, "text\njson\n:4\n", out, "--output completes its two values and no files")
}
