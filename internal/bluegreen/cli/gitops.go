package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/argocd"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/gitrepo"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/release"
)

// gitopsStore builds the values-file store of --gitops. With --git it clones the repository
// into a directory of its own (removed by Close) and resolves --values-file and --chart in
// that checkout; with --app it reads the Argo CD Application for what it renders (its chart
// path and values file, when the flags do not name them) and waits on its sync.
func gitopsStore(ctx context.Context, g *Global, releaseName, ns string, restCfg *rest.Config, stdout io.Writer) (*release.GitOpsStore, error) {
	gs := &release.GitOpsStore{Release: releaseName, Namespace: ns}
	var src appSource
	if g.App != "" {
		dyn, err := dynamic.NewForConfig(restCfg)
		if err != nil {
			return nil, fmt.Errorf("build dynamic client: %w", err)
		}
		gs.App = &argocd.App{Client: dyn, Namespace: g.AppNamespace, Name: g.App}
		_, u, err := gs.App.Get(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: --app: %w", bluegreen.ErrBadInput, err)
		}
		src = sourceOf(u)
	}
	valuesFile, chartDir := g.ValuesFile, g.Chart
	if valuesFile == "" && src.valuesFile != "" {
		valuesFile = src.valuesFile
	}
	if chartDir == "" && src.chart != "" {
		chartDir = src.chart
	}
	if valuesFile == "" {
		return nil, fmt.Errorf("%w: --gitops needs --values-file (or --app, whose Application names it)", bluegreen.ErrBadInput)
	}
	if g.Git != "" {
		dir, err := os.MkdirTemp("", "bluegreen-gitops-")
		if err != nil {
			return nil, fmt.Errorf("create a directory for the checkout: %w", err)
		}
		co, err := gitrepo.Clone(ctx, g.Git, g.GitBranch, filepath.Join(dir, "repo"))
		if err != nil {
			_ = os.RemoveAll(dir) // the clone's error is the one to report
			return nil, fmt.Errorf("%w: --git: %w", bluegreen.ErrBadInput, err)
		}
		gs.Checkout, gs.Cleanup = co, func() { _ = os.RemoveAll(dir) }
		valuesFile = co.Path(valuesFile)
		if chartDir != "" {
			chartDir = co.Path(chartDir)
		}
	}
	if chartDir == "" {
		chartDir = chartBeside(valuesFile)
	}
	if chartDir == "" {
		gs.Close()
		return nil, fmt.Errorf("%w: no chart beside %s: name it with --chart (with --git, a path in the repository), or --app", bluegreen.ErrBadInput, valuesFile)
	}
	gs.ValuesFile, gs.ChartDir = valuesFile, chartDir
	if gs.Checkout == nil {
		ch, err := loader.Load(chartDir)
		if err != nil {
			gs.Close()
			return nil, fmt.Errorf("%w: load chart %s for its defaults: %w", bluegreen.ErrBadInput, chartDir, err)
		}
		gs.Chart = ch
	}
	if g.Print {
		gs.Print = stdout
	}
	if g.PushCmd != "" {
		gs.AfterWrite = pushHook(g.PushCmd)
	}
	return gs, nil
}

// appSource is what an Application renders: the chart's path in its repository and the first
// values file, as a path in the repository too.
type appSource struct{ chart, valuesFile string }

func sourceOf(u *unstructured.Unstructured) appSource {
	p, _, _ := unstructured.NestedString(u.Object, "spec", "source", "path")
	files, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "source", "helm", "valueFiles")
	s := appSource{chart: p}
	if len(files) > 0 && p != "" && !strings.Contains(files[0], "://") {
		s.valuesFile = path.Clean(path.Join(p, files[0]))
	}
	return s
}

// chartBeside finds the chart next to a values file: the file's own directory or the nearest
// directory above it with a Chart.yaml, never above the repository the file is in (the
// directory holding .git), so the working directory never stands in for the chart.
func chartBeside(valuesFile string) string {
	dir, err := filepath.Abs(filepath.Dir(valuesFile))
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err == nil {
			return dir
		}
		if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil || errors.Is(err, os.ErrPermission) {
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
