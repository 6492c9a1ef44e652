package bluegreen_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/fakecluster"
)

// TestARolloutThatCannotProgressFailsAtOnce: an image that cannot be pulled, a container
// that keeps crashing, a config it cannot start with, or a Deployment past its progress
// deadline ends the rollout wait at once, long before its timeout, naming the pod (or the
// Deployment), the reason and the image. Traffic stays on blue.
func TestARolloutThatCannotProgressFailsAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		tag   string
		setup func(*fakecluster.Cluster)
		want  []string
	}{
		{"image on no node", "9.9.9", nil, []string{"ai-assistant-green-", "ErrImagePull", "image ai-assistant:9.9.9"}},
		{"crash loop", "2.0.0", func(cl *fakecluster.Cluster) { cl.Waiting["green"] = "CrashLoopBackOff" }, []string{"ai-assistant-green-", "CrashLoopBackOff", "image ai-assistant:2.0.0"}},
		{"missing config", "2.0.0", func(cl *fakecluster.Cluster) { cl.Waiting["green"] = "CreateContainerConfigError" }, []string{"CreateContainerConfigError"}},
		{"progress deadline", "2.0.0", func(cl *fakecluster.Cluster) {
			cl.NotReady["green"] = true
			cl.ProgressDeadline["green"] = true
		}, []string{"deployment ai-assistant-green: ProgressDeadlineExceeded"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			if tc.setup != nil {
				tc.setup(f.cl)
			}
			d := f.deploy(tc.tag)
			d.Gates.RolloutTimeout = time.Minute
			began := time.Now()
			res, err := d.Run(context.Background())
			require.ErrorIs(t, err, bluegreen.ErrGateFailed)
			assert.Less(t, time.Since(began), 20*time.Second, "ended at once, not at the 1m rollout timeout")
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Equal(t, "gate-failed", res.Outcome)
			assert.Equal(t, "blue", f.serviceColor(), "traffic stays on blue")
		})
	}
}
