// Package stackimages builds the third-party images a harness stack runs (metrics-server, the
// monitoring and the ingress stacks, Argo CD's commands) and says what each cost, one line an
// image. It stands outside imagebuild on purpose: every image's cache key hashes imagebuild's
// own source, so a change there would rebuild them all.
package stackimages

import (
	"context"
	"fmt"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/imagebuild"
)

// Build builds each module with a builder of repoRoot's (imagebuild.NewBuilder), logs Line for
// each, and returns their results in order and their tarballs, for kind's image load.
func Build(ctx context.Context, repoRoot string, logf func(string, ...any), mods ...imagebuild.Module) ([]imagebuild.Result, []string, error) {
	b := imagebuild.NewBuilder(repoRoot, logf)
	results := make([]imagebuild.Result, 0, len(mods))
	tarballs := make([]string, 0, len(mods))
	for _, m := range mods {
		r, err := b.BuildModule(ctx, m)
		if err != nil {
			return nil, nil, err
		}
		logf("%s", Line(r))
		results = append(results, r)
		tarballs = append(tarballs, r.Path)
	}
	return results, tarballs, nil
}

// Line is an image's progress line: its tag, then "up to date", or how long its build took
// and its sizes.
func Line(r imagebuild.Result) string {
	if r.UpToDate {
		return r.Tag + " up to date"
	}
	return fmt.Sprintf("%s built in %s (%.1f MB tarball, %.1f MB uncompressed)", r.Tag, r.Elapsed.Round(time.Second), float64(r.TarballSize)/1e6, float64(r.Info.UncompressedSize)/1e6)
}
