package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUntilRetriesUntilSuccess(t *testing.T) {
	t.Parallel()
	calls := 0
	err := Until(context.Background(), time.Minute, time.Millisecond, func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, calls)
}

func TestUntilGivesUpWithTheLastError(t *testing.T) {
	t.Parallel()
	notReady := errors.New("node not Ready")
	err := Until(context.Background(), 20*time.Millisecond, time.Millisecond, func(ctx context.Context) error {
		_, bounded := ctx.Deadline()
		assert.True(t, bounded, "try gets the deadline")
		return notReady
	})
	require.ErrorIs(t, err, notReady)
	assert.Contains(t, err.Error(), "gave up after 20ms")
}

func TestUntilStopsWhenTheCallerCancels(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	err := Until(ctx, time.Hour, time.Hour, func(context.Context) error {
		cancel()
		return errors.New("still down")
	})
	require.ErrorContains(t, err, "still down")
}

// A wait cancelled during a try must not try again, even when the next tick is
// already due: a health gate could pass after an interrupt and a cutover go on.
func TestPollDoesNotTryAgainOnceCancelled(t *testing.T) {
	t.Parallel()
	for range 50 { // select's choice is random: repeat so a wrong one shows
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err := Poll(ctx, time.Nanosecond, func(context.Context) (bool, error) { // the next tick is due at once
			calls++
			cancel()
			return calls > 1, nil
		})
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, 1, calls)
	}
}

// The first try runs at once: with an hour's interval, a poll that waited first would
// end on the deadline instead of the try's error.
func TestPollReturnsTheTrysErrorAsIs(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	boom := errors.New("boom")
	err := Poll(ctx, time.Hour, func(context.Context) (bool, error) { return false, boom })
	require.Equal(t, boom, err)
}

// A wait whose ctx has already ended still tries once, so Until can say what it saw.
func TestPollTriesOnceWhenCtxHasAlreadyEnded(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	err := Poll(ctx, time.Nanosecond, func(context.Context) (bool, error) {
		calls++
		return false, nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, calls)
}
