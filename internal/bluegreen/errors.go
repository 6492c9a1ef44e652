package bluegreen

import (
	"errors"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/lease"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// Sentinel errors let a command map a failure to its documented exit code with
// errors.Is; every returned error wraps at most one of them.
var (
	// ErrBadInput: the request was refused before anything changed. It is the values
	// package's, which refuses input too (a colour, a values file), re-exported.
	ErrBadInput = values.ErrBadInput
	// ErrLocked: another run holds the release's lock, or Helm has an operation pending. It is
	// the lease package's ErrHeld, re-exported: a lost or refused lease is this error.
	ErrLocked = lease.ErrHeld
	// ErrGateFailed: a pre-switch gate failed; traffic was not touched.
	ErrGateFailed = errors.New("gate failed, traffic untouched")
	// ErrReverted: post-switch verification failed and traffic was switched back.
	ErrReverted = errors.New("verification failed, traffic switched back")
	// ErrRevertFailed: verification failed and switching back failed too; a human must act.
	ErrRevertFailed = errors.New("verification failed and switching back failed")
)
