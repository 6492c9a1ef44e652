// Package retry repeats an operation until it succeeds or its time is up. Until then
// returns the operation's last error: "gave up after 30s: node not Ready" says what
// went wrong, a bare "context deadline exceeded" does not.
//
// The loop is k8s.io/apimachinery's wait; this package only adds that last error,
// which wait drops (it returns ctx.Err()).
package retry

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Poll calls try at once and then every interval until it reports done or returns an
// error (returned as is), or ctx ends (ctx.Err() is returned). No try starts once ctx
// has ended: wait looks at ctx after each tick, before the next try, so an
// interrupted wait cannot pass by one more try. The first try runs even when ctx has
// already ended.
func Poll(ctx context.Context, interval time.Duration, try func(context.Context) (done bool, err error)) error {
	return wait.PollUntilContextCancel(ctx, interval, true, try)
}

// Until calls try at once and then every interval until it returns nil, ctx ends or
// timeout passes; then it returns try's last error. try gets a context bounded by
// the same deadline.
func Until(ctx context.Context, timeout, interval time.Duration, try func(context.Context) error) error {
	var last error
	if err := wait.PollUntilContextTimeout(ctx, interval, timeout, true, func(ctx context.Context) (bool, error) {
		last = try(ctx)
		return last == nil, nil
	}); err != nil {
		return fmt.Errorf("gave up after %s: %w", timeout, last)
	}
	return nil
}
