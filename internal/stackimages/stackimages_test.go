package stackimages

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/imagebuild"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/ociimage"
)

func TestLineSaysWhatTheBuildCost(t *testing.T) {
	assert.Equal(t, "traefik:v3.6.12 up to date", Line(imagebuild.Result{Tag: "traefik:v3.6.12", UpToDate: true, Elapsed: time.Second}))
	built := imagebuild.Result{Tag: "traefik:v3.6.12", Elapsed: 25*time.Minute + 47*time.Second + 300*time.Millisecond,
		TarballSize: 56_700_000, Info: ociimage.Info{UncompressedSize: 177_900_000}}
	assert.Equal(t, "traefik:v3.6.12 built in 25m47s (56.7 MB tarball, 177.9 MB uncompressed)", Line(built))
}
