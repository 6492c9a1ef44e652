// Package retry repeats an operation until it succeeds or its time is up, and then
// returns the operation's last error: "gave up after 30s: node not Ready" says what
// went wrong, a bare "context deadline exceeded" does not.
package retry

import (
	"context"
	"fmt"
	"time"
)

// Until calls try at once and then every interval until it returns nil, ctx ends or
// timeout passes. try gets a context bounded by the same deadline.
func Until(ctx context.Context, timeout, interval time.Duration, try func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := try(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s: %w", timeout, err)
		case <-tick.C:
		}
	}
}
