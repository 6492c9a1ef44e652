// Package healthcheck is the client side of the server's probes: `ai-assistant healthcheck`
// lets a scratch image (no curl) run an exec probe or a `helm test` pod.
package healthcheck

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Check GETs url and returns nil on a 2xx answer, else an error with the status and the start
// of the body (the readiness report names the failing checks).
func Check(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build request for %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("get %s: status %d: %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}
