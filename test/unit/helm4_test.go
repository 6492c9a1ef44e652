package unit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// Argo CD (since 3.5) and Flux render the chart with Helm 4, these tests and the cutover
// command with the Helm 3 SDK. Every scenario renders to the same objects both ways: the
// defaults and each ci/*-values.yaml, through `helm4 template` (Helm 4.3.1, the version Argo CD
// pins) and through the SDK in-process, compared as decoded objects, hooks included.
func TestHelm4RendersTheSameObjects(t *testing.T) {
	t.Parallel()
	helm4 := filepath.Join(repoRoot, "bin", "helm4")
	if _, err := os.Stat(helm4); err != nil {
		t.Fatalf("bin/helm4 missing: run `make tools` (%v)", err)
	}
	for _, file := range append([]string{""}, ciValuesFiles(t)...) {
		name := "defaults"
		if file != "" {
			name = strings.TrimSuffix(filepath.Base(file), "-values.yaml")
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var vals map[string]any
			args := []string{"template", releaseName, chartDir, "--namespace", namespace, "--kube-version", kubeVersion}
			if file != "" {
				vals = valuesFile(t, file)
				args = append(args, "-f", file)
			}
			rel, err := renderRelease(t, vals, kubeVersion)
			require.NoError(t, err)
			manifest := rel.Manifest
			for _, h := range rel.Hooks {
				manifest += "\n---\n" + h.Manifest
			}
			out, err := exec.Command(helm4, args...).Output()
			require.NoError(t, err, "helm4 %s: %s", strings.Join(args, " "), stderrOf(err))

			sdk, h4 := objectsByName(t, manifest), objectsByName(t, string(out))
			require.NotEmpty(t, sdk)
			if diff := cmp.Diff(sdk, h4); diff != "" {
				t.Errorf("Helm 4 renders other objects than the Helm 3 SDK (-sdk +helm4):\n%s", diff)
			}
		})
	}
}

// objectsByName decodes a multi-document manifest into kind/namespace/name -> object.
func objectsByName(t *testing.T, manifest string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, part := range docSeparator.Split(manifest, -1) {
		if strings.TrimSpace(stripComments(part)) == "" {
			continue
		}
		var obj map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(part), &obj))
		md, _ := obj["metadata"].(map[string]any)
		key := fmt.Sprintf("%v/%v/%v", obj["kind"], md["namespace"], md["name"])
		require.NotContains(t, out, key, "two objects named %s", key)
		out[key] = obj
	}
	return out
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}
