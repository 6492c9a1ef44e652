package monitoring

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/gomod"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/imagebuild"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stackimages"
)

// AdapterConfigPath is the prometheus-adapter configuration the chart ships (and its README
// shows), relative to the repository root: the stack runs exactly this file.
const AdapterConfigPath = "charts/ai-assistant/files/prometheus-adapter.yaml"

// PrepareStack builds the stack's four images into <repo>/.cache/images (up to date after
// `make images`; a cold build takes minutes each and logs its progress) and returns the
// options InstallStack needs, with the image tarballs to load into the nodes first.
func PrepareStack(ctx context.Context, repoRoot string, logf func(string, ...any)) (StackOptions, []string, error) {
	var o StackOptions
	rs, tarballs, err := stackimages.Build(ctx, repoRoot, logf,
		imagebuild.PrometheusOperator, imagebuild.PrometheusConfigReloader, imagebuild.Prometheus, imagebuild.PrometheusAdapter)
	if err != nil {
		return o, nil, err
	}
	for i, into := range []*Image{&o.Operator, &o.ConfigReloader, &o.Prometheus, &o.Adapter} {
		*into = Image{Ref: rs[i].Tag, Digest: rs[i].Info.Digest.String()}
	}
	dir, err := gomod.Dir(repoRoot, OperatorModule)
	if err != nil {
		return o, nil, err
	}
	o.OperatorDir = dir
	if o.AdapterConfig, err = os.ReadFile(filepath.Join(repoRoot, AdapterConfigPath)); err != nil {
		return o, nil, fmt.Errorf("read the adapter configuration: %w", err)
	}
	o.Logf = logf
	return o, tarballs, nil
}
