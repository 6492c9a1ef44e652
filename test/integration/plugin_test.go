//go:build integration

package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The released command as users run it: `make release` output installed as a Helm plugin into
// a real helm (3 and 4) and as a kubectl plugin on PATH for the cluster's real kubectl. helm
// hands its own -n and --kube-context to the plugin as HELM_NAMESPACE and HELM_KUBECONTEXT:
// a deploy through `helm -n NS bluegreen` cuts over the release in NS, and a context that does
// not exist is refused by name. The binary completes the namespace's release names from Helm's
// storage.
func TestPluginsRunTheReleasedCommand(t *testing.T) {
	parallel(t)
	a := newApp(t, nil)
	version := chartVersion(t, chartDir)

	dist := t.TempDir()
	runScript(t, "release.sh", "OUT="+dist, "PLATFORMS="+runtime.GOOS+"/"+runtime.GOARCH)
	binary := filepath.Join(dist, "bluegreen-"+version+"-"+runtime.GOOS+"-"+runtime.GOARCH)
	pluginDir := filepath.Join(dist, "helm-bluegreen-"+version)

	// Each helm gets a data directory of its own: Helm 4.3.1's `plugin install` writes to
	// $XDG_DATA_HOME/helm/plugins even when HELM_PLUGINS names another directory.
	base := append(os.Environ(), "KUBECONFIG="+a.c.KubeconfigPath, "HELM_NAMESPACE=", "HELM_KUBECONTEXT=")
	helms := map[string][]string{}
	for _, name := range []string{"helm", "helm4"} {
		data := t.TempDir()
		helms[name] = append(append([]string{}, base...), "XDG_DATA_HOME="+data, "HELM_PLUGINS="+filepath.Join(data, "helm", "plugins"))
		out, err := command(helms[name], filepath.Join(repoRoot, "bin", name), "plugin", "install", pluginDir)
		require.NoError(t, err, "%s plugin install:\n%s", name, out)
		out, err = command(helms[name], filepath.Join(repoRoot, "bin", name), "plugin", "list")
		require.NoError(t, err, "%s plugin list:\n%s", name, out)
		assert.Regexp(t, `(?m)^bluegreen\s+`+regexp.QuoteMeta(version)+`\s`, out, "%s plugin list", name)
	}

	helmPlugin := func(name string, args ...string) (string, error) {
		return command(helms[name], filepath.Join(repoRoot, "bin", name), args...)
	}
	// helm's -n before the plugin's name, and --namespace after it: both reach the command.
	out, err := helmPlugin("helm", append([]string{"-n", a.ns, "bluegreen", "deploy", release, "--tag", a.otherVersion()}, fastGates...)...)
	require.NoError(t, err, "helm bluegreen deploy:\n%s", lastLines(out, 30))
	t.Logf("helm -n %s bluegreen deploy: %s", a.ns, lastLines(out, 1))
	assert.Equal(t, "green", a.activeColor(), "the deploy through the Helm plugin cut over")
	for _, name := range []string{"helm", "helm4"} {
		out, err = helmPlugin(name, "bluegreen", "status", release, "--namespace", a.ns, "-o", "json")
		require.NoError(t, err, "%s bluegreen status:\n%s", name, out)
		assert.Equal(t, "green", statusActive(t, out), "%s bluegreen status", name)
		out, err = helmPlugin(name, "--kube-context", "no-such-context", "-n", a.ns, "bluegreen", "status", release)
		require.Error(t, err, "%s bluegreen with a context that does not exist:\n%s", name, out)
		assert.Contains(t, out, `context "no-such-context" does not exist`, "%s hands --kube-context over", name)
	}

	// kubectl finds kubectl-bluegreen on PATH and passes its arguments through.
	pathDir := t.TempDir()
	require.NoError(t, os.Symlink(binary, filepath.Join(pathDir, "kubectl-bluegreen")))
	kenv := append(append([]string{}, base...), "PATH="+pathDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err = command(kenv, a.c.Kubectl, "plugin", "list")
	require.NoError(t, err, "kubectl plugin list:\n%s", out)
	assert.Contains(t, out, filepath.Join(pathDir, "kubectl-bluegreen"))
	out, err = command(kenv, a.c.Kubectl, "bluegreen", "-n", a.ns, "status", release, "-o", "json")
	require.NoError(t, err, "kubectl bluegreen status:\n%s", out)
	assert.Equal(t, "green", statusActive(t, out), "kubectl bluegreen status")

	// Completion reads the releases of the namespace from the cluster, through the binary and
	// through Helm, which asks the plugin's plugin.complete with its own -n handed over.
	out, err = command(base, binary, "__complete", "-n", a.ns, "status", "")
	require.NoError(t, err, "bluegreen __complete:\n%s", out)
	assert.Contains(t, out, release+"\t"+version+"\n", "release names complete, described by chart version")
	out, err = helmPlugin("helm", "__complete", "-n", a.ns, "bluegreen", "status", "")
	require.NoError(t, err, "helm __complete bluegreen:\n%s", out)
	assert.Contains(t, out, release+"\t"+version+"\n", "helm completes the plugin's release names")
}

// command runs a program with exactly env and returns its combined output.
func command(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// statusActive is the active colour of a `bluegreen status -o json` output.
func statusActive(t *testing.T, out string) string {
	t.Helper()
	var s struct {
		ActiveColor string `json:"activeColor"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &s), "status JSON:\n%s", out)
	return s.ActiveColor
}
