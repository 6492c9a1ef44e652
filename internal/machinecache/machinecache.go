// Package machinecache names the per-machine cache outside the checkout, so that a fresh
// clone (CI's) finds what an earlier clone built or measured on the same machine.
package machinecache

import (
	"os"
	"path/filepath"
)

// Dir is ${XDG_CACHE_HOME:-$HOME/.cache}/ai-assistant-chart/<name>, or
// <repoRoot>/.cache/<fallback> when there is no home directory.
func Dir(repoRoot, name, fallback string) string {
	base, err := os.UserCacheDir()
	if err != nil {
		return filepath.Join(repoRoot, ".cache", fallback)
	}
	return filepath.Join(base, "ai-assistant-chart", name)
}
