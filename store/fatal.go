package store

import "errors"

// ErrFatal marks a store that failed for good: a write or a sync of its
// files failed, so data it has not yet acknowledged may be lost or torn and
// nothing it says about further writes can be trusted. Every later write
// fails with it; the process is expected to stop (see Failer).
// Test with errors.Is; a *FatalError carries the cause.
var ErrFatal = errors.New("store failed")

// FatalError is the error of a store that failed for good: Err is the
// failure that put it in that state (a failed fdatasync, a disk full).
// errors.Is(err, ErrFatal) holds for it, and errors.Is/As reach Err.
type FatalError struct{ Err error }

func (e *FatalError) Error() string { return "store failed for good: " + e.Err.Error() }

// Unwrap reports both ErrFatal and the cause.
func (e *FatalError) Unwrap() []error { return []error{ErrFatal, e.Err} }

// Failer is an optional Store capability: a store that can fail for good
// (store/sqlite after a failed sync or write) closes the channel Failed
// returns when it does, and FailErr then returns the *FatalError. The
// gateway watches it to stop serving and exit non-zero. A lost connection
// to a database server is not such a failure: it heals by itself.
type Failer interface {
	Failed() <-chan struct{}
	FailErr() error
}
