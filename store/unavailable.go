package store

import "errors"

// ErrUnavailable marks a call that failed because the store could not be
// reached: the database server is down or restarting, or the connection
// dropped. Nothing is wrong with the request and nothing is lost; the same
// call may work a moment later (the API answers 503 with Retry-After).
// Unlike ErrFatal it heals by itself. Test with errors.Is; an
// *UnavailableError carries the cause.
var ErrUnavailable = errors.New("store unavailable")

// UnavailableError is the error of a call the store could not serve for
// want of a connection. errors.Is(err, ErrUnavailable) holds for it, and
// errors.Is/As reach Err.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return "store unavailable: " + e.Err.Error() }

// Unwrap reports both ErrUnavailable and the cause.
func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }
