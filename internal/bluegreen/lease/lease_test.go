package lease

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// A free lease is taken as soon as the elector has it, not at the next tick of the poll that
// watches for a holder (a 20th of the lease duration: 6 s for this two-minute lease, 1.5 s for
// the command's default).
func TestAFreeLeaseIsTakenWithoutWaitingForAPollTick(t *testing.T) {
	kube := fake.NewSimpleClientset()
	began := time.Now()
	l, runCtx, _, err := Acquire(context.Background(), kube, "prod", "ai-assistant", "me@host pid 1", "deploy", 2*time.Minute, t.Logf)
	require.NoError(t, err)
	took := time.Since(began)
	require.NoError(t, runCtx.Err())
	got, err := kube.CoordinationV1().Leases("prod").Get(context.Background(), "bluegreen-ai-assistant", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "me@host pid 1", *got.Spec.HolderIdentity)
	assert.Less(t, took, 5*time.Second, "taken after %s: the poll's 6 s tick", took)
	require.NoError(t, l.Release(true))
}
