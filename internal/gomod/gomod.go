// Package gomod finds files shipped inside Go modules (Kubernetes' OpenAPI spec, the
// prometheus-operator CRDs, kind's node files) through the module cache, so the repository
// never copies them.
package gomod

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
)

// Dir downloads module@version into the module cache (a no-op when present) and returns its
// directory. dir is where `go` runs: any directory inside this repository.
func Dir(dir, module string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Dir = dir
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
