package cluster

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/log"
)

// stockImage is kind's own node image, used when KIND_OFFLINE=0 says the machine can pull.
const stockImage = defaults.Image

// kindLogger passes kind's user-facing messages (verbosity 0) to a printf-style logger.
type kindLogger struct {
	logf func(format string, args ...any)
}

var _ log.Logger = kindLogger{}

func (l kindLogger) Warn(message string)               { l.logf("kind: %s", message) }
func (l kindLogger) Warnf(format string, args ...any)  { l.logf("kind: "+format, args...) }
func (l kindLogger) Error(message string)              { l.logf("kind: error: %s", message) }
func (l kindLogger) Errorf(format string, args ...any) { l.logf("kind: error: "+format, args...) }
func (l kindLogger) V(level log.Level) log.InfoLogger  { return kindInfo{l.logf, level == 0} }

type kindInfo struct {
	logf    func(format string, args ...any)
	enabled bool
}

func (i kindInfo) Info(message string) {
	// kind's status lines end in newlines of their own; blank ones carry nothing.
	if m := strings.TrimSpace(message); i.enabled && m != "" {
		i.logf("kind: %s", m)
	}
}

func (i kindInfo) Infof(format string, args ...any) {
	if i.enabled {
		i.Info(fmt.Sprintf(format, args...))
	}
}

func (i kindInfo) Enabled() bool { return i.enabled }
