package monitoring

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/gomod"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/imagebuild"
)

// AdapterConfigPath is the prometheus-adapter configuration the chart ships (and its README
// shows), relative to the repository root: the stack runs exactly this file.
const AdapterConfigPath = "charts/ai-assistant/files/prometheus-adapter.yaml"

// PrepareStack builds the stack's four images into <repo>/.cache/images (up to date after
// `make images`; a cold build takes minutes each and logs its progress) and returns the
// options InstallStack needs, with the image tarballs to load into the nodes first.
func PrepareStack(ctx context.Context, repoRoot string, logf func(string, ...any)) (StackOptions, []string, error) {
	b := imagebuild.NewBuilder(repoRoot, logf)
	var (
		o        StackOptions
		tarballs []string
	)
	for _, m := range []struct {
		module imagebuild.Module
		into   *Image
	}{
		{imagebuild.PrometheusOperator, &o.Operator},
		{imagebuild.PrometheusConfigReloader, &o.ConfigReloader},
		{imagebuild.Prometheus, &o.Prometheus},
		{imagebuild.PrometheusAdapter, &o.Adapter},
	} {
		r, err := b.BuildModule(ctx, m.module)
		if err != nil {
			return o, nil, err
		}
		if r.UpToDate {
			logf("%s up to date", r.Tag)
		} else {
			logf("%s built in %s (%.1f MB tarball, %.1f MB uncompressed)", r.Tag, r.Elapsed.Round(time.Second), float64(r.TarballSize)/1e6, float64(r.Info.UncompressedSize)/1e6)
		}
		*m.into = Image{Ref: r.Tag, Digest: r.Info.Digest.String()}
		tarballs = append(tarballs, r.Path)
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
