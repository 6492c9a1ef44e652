package unit

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkRenderInProcess renders the default chart through the Helm SDK, as the tests do.
func BenchmarkRenderInProcess(b *testing.B) {
	for b.Loop() {
		if _, err := renderRelease(b, nil, kubeVersion); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderHelmTemplate renders the same chart with a `helm template` subprocess, the
// usual way chart tests render; `make bench` prints the ratio of the two.
func BenchmarkRenderHelmTemplate(b *testing.B) {
	helm := filepath.Join(repoRoot, "bin", "helm")
	if _, err := os.Stat(helm); err != nil {
		b.Fatalf("%s: %v (run `make tools`)", helm, err)
	}
	for b.Loop() {
		cmd := exec.Command(helm, "template", releaseName, chartDir, "--namespace", namespace, "--kube-version", kubeVersion)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("helm template: %v\n%s", err, out)
		}
	}
}
