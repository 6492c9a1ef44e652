package ingress

import (
	"context"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/imagebuild"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/stackimages"
)

// PrepareStack builds Traefik's and cert-manager's images into <repo>/.cache/images (up to
// date after `make images`; a cold build takes minutes and logs its progress) and returns the
// options Install needs, with the image tarballs to load into the nodes first.
func PrepareStack(ctx context.Context, repoRoot string, logf func(string, ...any)) (Options, []string, error) {
	var o Options
	rs, tarballs, err := stackimages.Build(ctx, repoRoot, logf, imagebuild.Traefik, imagebuild.CertManager)
	if err != nil {
		return o, nil, err
	}
	o.Traefik = Image{Ref: rs[0].Tag, Digest: rs[0].Info.Digest.String()}
	o.CertManager = Image{Ref: rs[1].Tag, Digest: rs[1].Info.Digest.String()}
	if o.CRDDir, err = CRDDir(ctx, repoRoot); err != nil {
		return o, nil, err
	}
	o.Logf = logf
	return o, tarballs, nil
}
