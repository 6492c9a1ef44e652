package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/argocd"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/gitrepo"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// GitOpsStore keeps the values in a values file that Argo CD or Flux syncs from
// Git. The cutover never upgrades the release: it edits the file (or prints the
// change for a human or a pipeline to commit) and waits for the cluster to show it.
type GitOpsStore struct {
	// ValuesFile is the file the GitOps tool renders the release from.
	ValuesFile string
	// Chart supplies the defaults the file does not set.
	Chart *chart.Chart
	// ChartDir, with Checkout, is the chart's directory in the checkout: Load reads the chart
	// again whenever the checkout moved to another commit (a push rebased over others'), so
	// the defaults are always the chart's at the revision being cut over.
	ChartDir string
	Release  string
	// Namespace is the application's destination namespace (namespaceOverride wins over it).
	Namespace string
	// Print, when set, receives each change as a values snippet instead of the file.
	Print io.Writer
	// AfterWrite runs after each edit of the file: commit and push it, typically.
	AfterWrite func(ctx context.Context, path, description string) error
	// Checkout, when set, is the Git checkout ValuesFile is in: each edit is committed with
	// its description as the message and pushed, before AfterWrite.
	Checkout *gitrepo.Checkout
	// App, when set, is the Argo CD Application that syncs the file: after each push it is
	// asked to refresh, and Synced reports whether it has synced the commit pushed.
	App *argocd.App

	printed map[string]any // changes printed so far: the state the cluster should reach
	// Cleanup, when set, removes what the store was given to work in (the checkout); Close
	// runs it.
	Cleanup func()

	chartAt string // the commit Chart was read at
	// pushed is the last commit this store pushed, the revision the Application must sync.
	pushed string
	// Commits are the commits this store pushed, in order, "<short hash> <message>".
	Commits []string
}

// Close removes the checkout the store worked in, if it was given one to remove.
func (g *GitOpsStore) Close() {
	if g.Cleanup != nil {
		g.Cleanup()
		g.Cleanup = nil
	}
}

// Describe names the values file.
func (g *GitOpsStore) Describe() string { return "values file " + g.ValuesFile }

// Load reads the file (and, when printing, the changes printed so far).
func (g *GitOpsStore) Load(ctx context.Context) (*Snapshot, error) {
	if err := g.loadChart(ctx); err != nil {
		return nil, err
	}
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
	if g.Checkout != nil {
		if err := g.commitAndPush(ctx, description); err != nil {
			return err
		}
	}
	if g.AfterWrite != nil {
		if err := g.AfterWrite(ctx, g.ValuesFile, description); err != nil {
			return fmt.Errorf("after writing %s: %w", g.ValuesFile, err)
		}
	}
	return nil
}

// loadChart reads the chart from the checkout when the checkout is at a commit it was not
// read at.
func (g *GitOpsStore) loadChart(ctx context.Context) error {
	if g.Checkout == nil || g.ChartDir == "" {
		return nil
	}
	head, err := g.Checkout.Head(ctx)
	if err != nil {
		return err
	}
	if g.Chart != nil && head == g.chartAt {
		return nil
	}
	ch, err := loader.Load(g.ChartDir)
	if err != nil {
		return fmt.Errorf("%w: load chart %s at commit %s for its defaults: %w", values.ErrBadInput, g.ChartDir, short(head), err)
	}
	g.Chart, g.chartAt = ch, head
	return nil
}

// commitAndPush commits the values file with the change's description and pushes it (over
// commits others pushed meanwhile, when they touched other lines), then asks the Application
// to refresh so that it syncs the commit now rather than at its next poll.
func (g *GitOpsStore) commitAndPush(ctx context.Context, description string) error {
	if _, err := g.Checkout.Commit(ctx, description, g.ValuesFile); err != nil {
		return fmt.Errorf("commit %s: %w", g.ValuesFile, err)
	}
	head, err := g.Checkout.Push(ctx)
	if err != nil {
		return fmt.Errorf("push %s: %w", g.ValuesFile, err)
	}
	g.pushed = head
	subject, _, _ := strings.Cut(description, "\n")
	g.Commits = append(g.Commits, short(head)+" "+subject)
	if g.App != nil {
		if err := g.App.Refresh(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Pushed is the last commit this store pushed ("" before the first).
func (g *GitOpsStore) Pushed() string { return g.pushed }

// Synced reports what the GitOps tool has still to do before the cluster shows the last
// change: "" once the Application reports Synced at the commit pushed (or when there is no
// Application to ask, or nothing was pushed). A sync of that commit that failed is an error:
// waiting longer would not help.
func (g *GitOpsStore) Synced(ctx context.Context) (string, error) {
	if g.App == nil || g.pushed == "" {
		return "", nil
	}
	s, _, err := g.App.Get(ctx)
	if err != nil {
		return "", err
	}
	if s.OperationRevision == g.pushed && (s.Operation == "Failed" || s.Operation == "Error") {
		return "", fmt.Errorf("argo cd application %s failed to sync commit %s: %s", g.App.Name, short(g.pushed), s.Message)
	}
	if s.Revision != g.pushed || s.Sync != "Synced" {
		return fmt.Sprintf("argo cd application %s to sync commit %s (it reports %s)", g.App.Name, short(g.pushed), s), nil
	}
	return "", nil
}

func short(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
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
