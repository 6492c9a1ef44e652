// Package progress prints a long operation's steps with the time since it began, the one
// prefix every installer and harness here uses ("[ 12.3s] step").
package progress

import (
	"fmt"
	"time"
)

// Logf prints a progress line, as fmt.Printf formats it.
type Logf func(format string, args ...any)

// Since returns a Logf that prints through logf, each line prefixed with the seconds since
// start. A nil logf prints nothing.
func Since(start time.Time, logf func(format string, args ...any)) Logf {
	if logf == nil {
		return func(string, ...any) {}
	}
	return func(format string, args ...any) {
		logf("[%5.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
}

// Discard is logf, or a Logf that prints nothing when logf is nil.
func Discard(logf func(format string, args ...any)) Logf {
	if logf == nil {
		return func(string, ...any) {}
	}
	return logf
}
