// Package gomod finds files shipped inside Go modules (Kubernetes' OpenAPI spec, the
// prometheus-operator CRDs, kind's node files) through the module cache, so the repository
// never copies them.
package gomod

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
)

// Dir downloads module@version into the module cache (a no-op when present) and returns its
// directory. dir is where `go` runs: any directory inside this repository.
func Dir(dir, module string) (string, error) {
	return DirWithToolchain(dir, module, "")
}

// DirWithToolchain is Dir for a module that needs a newer Go than this repository's (Argo CD
// needs Go 1.27): toolchain, e.g. "go1.27.3", is exported as GOTOOLCHAIN, and the go command
// fetches it from the module proxy. dir is a module that requires the module at its version.
func DirWithToolchain(dir, module, toolchain string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Dir = dir
	if toolchain != "" {
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN="+toolchain, "GOFLAGS=", "GOWORK=off")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("go mod download %s: %s", module, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w: %s", module, err, stderr.String())
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no directory in %q", module, out)
	}
	return info.Dir, nil
}
