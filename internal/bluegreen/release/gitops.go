package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"helm.sh/helm/v3/pkg/chart"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// GitOpsStore keeps the values in a values file that Argo CD or Flux syncs from
// Git. The cutover never upgrades the release: it edits the file (or prints the
// change for a human or a pipeline to commit) and waits for the cluster to show it.
type GitOpsStore struct {
	// ValuesFile is the file the GitOps tool renders the release from.
	ValuesFile string
	// Chart supplies the defaults the file does not set.
	Chart   *chart.Chart
	Release string
	// Namespace is the application's destination namespace (namespaceOverride wins over it).
	Namespace string
	// Print, when set, receives each change as a values snippet instead of the file.
	Print io.Writer
	// AfterWrite runs after each edit of the file: commit and push it, typically.
	AfterWrite func(ctx context.Context, path, description string) error

	printed map[string]any // changes printed so far: the state the cluster should reach
}

// Describe names the values file.
func (g *GitOpsStore) Describe() string { return "values file " + g.ValuesFile }

// Load reads the file (and, when printing, the changes printed so far).
func (g *GitOpsStore) Load(_ context.Context) (*Snapshot, error) {
	b, err := os.ReadFile(g.ValuesFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: values file %s does not exist", values.ErrBadInput, g.ValuesFile)
	}
	if err != nil {
		return nil, fmt.Errorf("read values file %s: %w", g.ValuesFile, err)
	}
	user := map[string]any{}
	if err := sigsyaml.Unmarshal(b, &user); err != nil {
		return nil, fmt.Errorf("%w: parse values file %s: %w", values.ErrBadInput, g.ValuesFile, err)
	}
	if user == nil {
		user = map[string]any{}
	}
	user = overlay(user, g.printed)
	v, err := values.Parse(g.Chart, user)
	if err != nil {
		return nil, fmt.Errorf("read values file %s: %w", g.ValuesFile, err)
	}
	return &Snapshot{Chart: g.Chart, User: user, Values: v, Fullname: fullnameOf(g.Release, g.Chart, user), Namespace: objectNamespace(g.Namespace, g.Chart, user)}, nil
}

// Apply writes the change into the file, keeping its comments and order, or prints it.
func (g *GitOpsStore) Apply(ctx context.Context, _ *Snapshot, change values.Change, description string) error {
	if g.Print != nil {
		out, err := sigsyaml.Marshal(change.Nested())
		if err != nil {
			return fmt.Errorf("render values change: %w", err)
		}
		g.printed = overlay(g.printed, change.Nested())
		if _, err := fmt.Fprintf(g.Print, "# %s\n# merge into %s, commit, and let the GitOps tool sync it:\n%s---\n", description, g.ValuesFile, out); err != nil {
			return fmt.Errorf("print values change: %w", err)
		}
		return nil
	}
	b, err := os.ReadFile(g.ValuesFile)
	if err != nil {
		return fmt.Errorf("read values file %s: %w", g.ValuesFile, err)
	}
	out, err := values.Edit(b, change)
	if err != nil {
		return fmt.Errorf("edit values file %s: %w", g.ValuesFile, err)
	}
	if err := writeFileAtomic(g.ValuesFile, out); err != nil {
		return err
	}
	if g.AfterWrite != nil {
		if err := g.AfterWrite(ctx, g.ValuesFile, description); err != nil {
			return fmt.Errorf("after writing %s: %w", g.ValuesFile, err)
		}
	}
	return nil
}

// overlay returns base with every leaf of top set over it.
func overlay(base, top map[string]any) map[string]any {
	out := values.Copy(base)
	for k, v := range top {
		if tm, ok := v.(map[string]any); ok {
			bm, _ := out[k].(map[string]any)
			out[k] = overlay(bm, tm)
			continue
		}
		out[k] = v
	}
	return out
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".values-*.yaml")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // gone already after the rename
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close() // the write error is the one to report
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if info, err := os.Stat(path); err == nil {
		_ = os.Chmod(tmp.Name(), info.Mode().Perm())
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
