package ingress

import (
	"context"
	"fmt"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/imagebuild"
)

// PrepareStack builds Traefik's and cert-manager's images into <repo>/.cache/images (up to
// date after `make images`; a cold build takes minutes and logs its progress) and returns the
// options Install needs, with the image tarballs to load into the nodes first.
func PrepareStack(ctx context.Context, repoRoot string, logf func(string, ...any)) (Options, []string, error) {
	b := imagebuild.NewBuilder(repoRoot, logf)
	var (
		o        Options
		tarballs []string
	)
	for _, m := range []struct {
		module imagebuild.Module
		into   *Image
	}{
		{imagebuild.Traefik, &o.Traefik},
		{imagebuild.CertManager, &o.CertManager},
	} {
		r, err := b.BuildModule(ctx, m.module)
		if err != nil {
			return o, nil, err
		}
		state := "up to date"
		if !r.UpToDate {
			state = fmt.Sprintf("built in %s", r.Elapsed.Round(time.Second))
		}
		logf("%s %s (%.1f MB uncompressed)", r.Tag, state, float64(r.Info.UncompressedSize)/1e6)
		*m.into = Image{Ref: r.Tag, Digest: r.Info.Digest.String()}
		tarballs = append(tarballs, r.Path)
	}
	dir, err := CRDDir(ctx, repoRoot)
	if err != nil {
		return o, nil, err
	}
	o.CRDDir, o.Logf = dir, logf
	return o, tarballs, nil
}
