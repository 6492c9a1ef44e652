package kindnode

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// ModulePath is this repository's Go module.
const ModulePath = "github.com/ai-assistant-chart/ai-assistant-chart"

// FindRepoRoot walks up from the working directory to the directory whose go.mod declares
// ModulePath, so commands and tests work from any package directory.
func FindRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("get working directory: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module "+ModulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s above the working directory", ModulePath)
		}
		dir = parent
	}
}
