package progress

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

func TestSincePrefixesTheElapsedSeconds(t *testing.T) {
	var lines []string
	logf := Since(time.Now().Add(-12300*time.Millisecond), func(format string, args ...any) {
		lines = append(lines, fmt.Sprintf(format, args...))
	})
	logf("installed %s in %d steps", "traefik", 3)
	if len(lines) != 1 || !regexp.MustCompile(`^\[ 12\.[34]s\] installed traefik in 3 steps$`).MatchString(lines[0]) {
		t.Errorf("lines = %q, want one line \"[ 12.3s] installed traefik in 3 steps\"", lines)
	}
	Since(time.Now(), nil)("printed nowhere, and no panic")
	Discard(nil)("printed nowhere, and no panic")
}
