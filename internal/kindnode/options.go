package kindnode

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/debimage"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/machinecache"
)

const (
	// DefaultKubernetesVersion is kind v0.33.0's default and our client-go's minor.
	DefaultKubernetesVersion = "v1.37.2"
	// DefaultRepository names the node image.
	DefaultRepository = "ai-assistant-kind-node"
	kindModule        = "sigs.k8s.io/kind"
)

// Options configures a Builder; zero values take the defaults named beside each field.
type Options struct {
	// RepoRoot is the repository checkout (holds go.mod); required.
	RepoRoot string
	// CacheDir holds scratch modules, binaries and logs; default DefaultCacheDir(RepoRoot).
	CacheDir string
	// KubernetesVersion to build; default DefaultKubernetesVersion.
	KubernetesVersion string
	// Repository is the node image's name; default DefaultRepository.
	Repository string
	// Base configures the debootstrap base image.
	Base debimage.BaseOptions
	// Logf prints progress lines; nil prints nothing.
	Logf debimage.Logf
}

// DefaultCacheDir is the per-machine cache, outside the checkout, so that a fresh clone (CI's)
// finds the binaries built before instead of building them again: as hack/tools.sh's
// TOOLS_CACHE, ${XDG_CACHE_HOME:-$HOME/.cache}/ai-assistant-chart/kindnode, or
// <repoRoot>/.cache/kindnode when there is no home directory.
func DefaultCacheDir(repoRoot string) string {
	return machinecache.Dir(repoRoot, "kindnode", "kindnode")
}

// Builder builds (or finds) the offline kind node image.
type Builder struct {
	opts  Options
	steps *debimage.Steps
}

// New returns a Builder with defaults applied.
func New(o Options) *Builder {
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir(o.RepoRoot)
	}
	if o.KubernetesVersion == "" {
		o.KubernetesVersion = DefaultKubernetesVersion
	}
	if o.Repository == "" {
		o.Repository = DefaultRepository
	}
	if o.Base.WorkDir == "" {
		// debootstrap's root is big: keep it beside the other caches, not in a small /tmp.
		o.Base.WorkDir = filepath.Join(o.CacheDir, "tmp")
	}
	return &Builder{opts: o, steps: debimage.NewSteps(o.Logf, filepath.Join(o.CacheDir, "logs"))}
}

func (b *Builder) dir(parts ...string) (string, error) {
	d := filepath.Join(append([]string{b.opts.CacheDir}, parts...)...)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("create cache directory %s: %w", d, err)
	}
	return d, nil
}
