//go:build integration

package integration

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/gruntwork-io/terratest/modules/helm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/charthistory"
)

// The chart as users get it: `make package` signs it, `helm push` puts it and its provenance
// into an OCI registry (go-containerregistry's registry, the one `crane registry serve` runs,
// on loopback), and `helm install --verify` installs the previous version from there. An
// upgrade to this version, also verified, runs under load with no failed request and rolls no
// pod (CHANGELOG.md promises it); a tampered package and a wrong key fail verification and
// install nothing.
func TestOCIChartSignedPushedVerifiedAndUpgraded(t *testing.T) {
	parallel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	appCluster(t) // helm on PATH

	gnupg := newKey(t, "signer")
	dist := t.TempDir()
	current := chartVersion(t, chartDir)
	previousDir, previous := previousChart(t)
	t.Logf("packaging %s (this checkout) and %s (the chart before its version bump)", current, previous)
	for _, chart := range []string{previousDir, chartDir} {
		out := runScript(t, "package.sh", "CHART="+chart, "OUT="+dist, "GNUPGHOME="+gnupg, "SIGN_KEY=signer@test.example.com")
		t.Logf("make package:\n%s", lastLines(out, 6))
	}
	keyring := filepath.Join(dist, "ai-assistant-"+current+".pub.gpg")
	for _, v := range []string{previous, current} {
		info, err := os.Stat(filepath.Join(dist, "ai-assistant-"+v+".tgz"))
		require.NoError(t, err)
		t.Logf("ai-assistant-%s.tgz: %d bytes", v, info.Size())
	}

	repo := "oci://" + serveRegistry(t) + "/charts"
	for _, v := range []string{previous, current} {
		out := helmCLI(t, "push", filepath.Join(dist, "ai-assistant-"+v+".tgz"), repo, "--plain-http")
		t.Logf("helm push %s: %s", v, strings.TrimSpace(out))
	}
	// A package changed after signing, pushed with the original provenance beside it, as an
	// attacker with write access to the registry could.
	tamperedDir := t.TempDir()
	tampered := filepath.Join(tamperedDir, "ai-assistant-"+current+".tgz")
	tamper(t, filepath.Join(dist, "ai-assistant-"+current+".tgz"), tampered, "ai-assistant/values.yaml", "\n# tampered\n")
	copyFile(t, filepath.Join(dist, "ai-assistant-"+current+".tgz.prov"), tampered+".prov")
	helmCLI(t, "push", tampered, repo+"/tampered", "--plain-http")

	otherKeyring := filepath.Join(t.TempDir(), "other.gpg")
	exportKey(t, newKey(t, "other"), otherKeyring)
	for _, tc := range []struct{ ref, keyring, want string }{
		{repo + "/tampered/ai-assistant", keyring, "sha256 sum does not match"},
		{repo + "/ai-assistant", otherKeyring, "signature made by unknown entity"},
	} {
		out, err := helmCLIE("pull", tc.ref, "--version", current, "--plain-http", "--verify", "--keyring", tc.keyring, "-d", t.TempDir())
		require.Error(t, err, "helm pull --verify of %s with %s passed:\n%s", tc.ref, filepath.Base(tc.keyring), out)
		assert.Contains(t, out, tc.want)
		t.Logf("helm pull --verify %s (keyring %s): refused: %s", tc.ref, filepath.Base(tc.keyring), lastLines(out, 1))
	}

	// The previous version, installed verified from the registry; then the tampered current
	// one is refused on that live release, and the verified current one upgrades it under load.
	a := newAppFrom(t, repo+"/ai-assistant", "--version", previous, "--plain-http", "--verify", "--keyring", keyring)
	require.Equal(t, "ai-assistant-"+previous, a.chartOfRelease())
	out, err := helm.RunHelmCommandAndGetOutputE(t, a.helm, "upgrade", release, repo+"/tampered/ai-assistant", "--version", current, "--plain-http", "--verify", "--keyring", keyring, "--reuse-values")
	require.Error(t, err, "a tampered chart upgraded the release:\n%s", out)
	assert.Contains(t, out, "sha256 sum does not match")
	require.Equal(t, "ai-assistant-"+previous, a.chartOfRelease(), "the refused upgrade changed the release")

	before := a.podNames(ctx, "blue")
	wait := a.load(ctx, true, 25*time.Second)
	window(5 * time.Second)
	began := time.Now()
	out, err = helm.RunHelmCommandAndGetOutputE(t, a.helm, "upgrade", release, repo+"/ai-assistant", "--version", current, "--plain-http", "--verify", "--keyring", keyring, "--reuse-values", "--wait", "--timeout", "3m")
	require.NoError(t, err, "helm upgrade %s -> %s:\n%s", previous, current, out)
	t.Logf("helm upgrade --verify %s -> %s from the registry in %s", previous, current, time.Since(began).Round(100*time.Millisecond))
	res := wait()
	assert.Zero(t, res.Non2xx+res.TransportErrors, "requests failed during the upgrade from %s", previous)
	assert.Equal(t, "ai-assistant-"+current, a.chartOfRelease())
	assert.ElementsMatch(t, before, a.podNames(ctx, "blue"), "the chart upgrade replaced pods")
}

// newAppFrom installs the release from a chart reference with extra install arguments.
func newAppFrom(t *testing.T, chart string, install ...string) *app {
	t.Helper()
	c, imgs := appCluster(t)
	port := takeMainPort(t, c) // registered first: given back after a.cleanup
	values := map[string]any{"previewService": map[string]any{"type": "ClusterIP"}}
	return newAppOn(t, appSetup{cluster: c, images: imgs, values: values, port: port, chart: chart, install: install})
}

// chartOfRelease is the chart name-version of the release's current revision.
func (a *app) chartOfRelease() string {
	a.t.Helper()
	out, err := helm.RunHelmCommandAndGetStdOutE(a.t, a.helm, "list", "--filter", "^"+release+"$", "-o", "json")
	require.NoError(a.t, err)
	var rels []struct{ Chart string }
	require.NoError(a.t, yaml.Unmarshal([]byte(out), &rels))
	require.Len(a.t, rels, 1)
	return rels[0].Chart
}

// serveRegistry serves an in-memory OCI registry on a loopback port until the test ends.
func serveRegistry(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }() // Serve returns ErrServerClosed at Close
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// newKey makes a throwaway GPG signing key in its own GNUPGHOME and returns that directory.
func newKey(t *testing.T, name string) string {
	t.Helper()
	home, err := os.MkdirTemp("", "gnupg-") // short: gpg-agent's socket path has a length limit
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run() // best effort: the agent exits with its home anyway
		_ = os.RemoveAll(home)
	})
	require.NoError(t, os.Chmod(home, 0o700))
	cmd := exec.Command("gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "",
		"--quick-gen-key", name+" <"+name+"@test.example.com>", "rsa3072", "sign", "never")
	cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "gpg --quick-gen-key: %s", out)
	return home
}

// exportKey writes the public keys of a GNUPGHOME as a keyring helm reads.
func exportKey(t *testing.T, home, path string) {
	t.Helper()
	cmd := exec.Command("gpg", "--batch", "--export")
	cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
	out, err := cmd.Output()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, out, 0o600))
}

// runScript runs a hack/ script of this checkout with env over the process's.
func runScript(t *testing.T, name string, env ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot, "hack", name))
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "hack/%s:\n%s", name, out)
	return string(out)
}

// helmCLI runs the pinned helm with no release context and returns its combined output.
func helmCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := helmCLIE(args...)
	require.NoError(t, err, "helm %s:\n%s", strings.Join(args, " "), out)
	return out
}

func helmCLIE(args ...string) (string, error) {
	out, err := exec.Command(filepath.Join(repoRoot, "bin", "helm"), args...).CombinedOutput()
	return string(out), err
}

func chartVersion(t *testing.T, dir string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	require.NoError(t, err)
	var c struct{ Version string }
	require.NoError(t, yaml.Unmarshal(raw, &c))
	return c.Version
}

// previousChart is the chart from git history that this checkout's version upgrades.
func previousChart(t *testing.T) (dir, version string) {
	t.Helper()
	dir, version, err := charthistory.Previous(repoRoot, "charts/ai-assistant", t.TempDir())
	require.NoError(t, err)
	return dir, version
}

// tamper copies a chart package, appending text to one member.
func tamper(t *testing.T, src, dst, member, appendText string) {
	t.Helper()
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	zr, err := gzip.NewReader(in)
	require.NoError(t, err)
	out, err := os.Create(dst)
	require.NoError(t, err)
	defer out.Close()
	zw := gzip.NewWriter(out)
	tw := tar.NewWriter(zw)
	tr := tar.NewReader(zr)
	found := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(tr)
		require.NoError(t, err)
		if h.Name == member {
			body = append(body, appendText...)
			h.Size = int64(len(body))
			found = true
		}
		require.NoError(t, tw.WriteHeader(h))
		_, err = tw.Write(body)
		require.NoError(t, err)
	}
	require.True(t, found, "%s has no %s", src, member)
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, data, 0o644))
}
