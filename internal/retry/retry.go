// Package retry repeats an operation until it succeeds or its time is up. Until then
// returns the operation's last error: "gave up after 30s: node not Ready" says what
// went wrong, a bare "context deadline exceeded" does not.
package retry

import (
	"context"
	"fmt"
	"time"
)

// Poll calls try at once and then every interval until it reports done or returns an
// error (returned as is), or ctx ends (ctx.Err() is returned). No try starts once ctx
// has ended: when a tick and the cancellation are both due, select picks at random,
// so ctx is looked at first and an interrupted wait cannot pass by one more try.
func Poll(ctx context.Context, interval time.Duration, try func(context.Context) (done bool, err error)) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for tries := 0; ; tries++ {
		if err := ctx.Err(); err != nil && tries > 0 {
			return err
		}
		if done, err := try(ctx); err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// Until calls try at once and then every interval until it returns nil, ctx ends or
// timeout passes; then it returns try's last error. try gets a context bounded by
// the same deadline.
func Until(ctx context.Context, timeout, interval time.Duration, try func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	if err := Poll(ctx, interval, func(ctx context.Context) (bool, error) {
		last = try(ctx)
		return last == nil, nil
	}); err != nil {
		return fmt.Errorf("gave up after %s: %w", timeout, last)
	}
	return nil
}
