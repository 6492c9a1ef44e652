package bluegreen

import "errors"

// Sentinel errors let a command map a failure to its documented exit code with
// errors.Is; every returned error wraps at most one of them.
var (
	// ErrBadInput: the request was refused before anything changed.
	ErrBadInput = errors.New("bad input")
	// ErrLocked: another run holds the release's lock, or Helm has an operation pending.
	ErrLocked = errors.New("release is locked")
	// ErrGateFailed: a pre-switch gate failed; traffic was not touched.
	ErrGateFailed = errors.New("gate failed, traffic untouched")
	// ErrReverted: post-switch verification failed and traffic was switched back.
	ErrReverted = errors.New("verification failed, traffic switched back")
	// ErrRevertFailed: verification failed and switching back failed too; a human must act.
	ErrRevertFailed = errors.New("verification failed and switching back failed")
)
