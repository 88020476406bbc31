package channels

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Class says what the routing core should do after a failed attempt.
type Class string

const (
	// Transient: worth retrying on this channel (5xx, timeout before the
	// request was written, connection refused). Counts against the breaker.
	Transient Class = "transient"
	// RateLimited: the provider asked us to slow down. Retry this channel
	// after RetryAfter; does not count against the breaker or the retry budget.
	RateLimited Class = "rate_limited"
	// Permanent: this channel will never deliver this message (bad address,
	// unsubscribed, content rejected). Does not count against the breaker.
	Permanent Class = "permanent"
	// Misconfigured: the channel itself is broken (bad credentials, 401/403).
	// Counts against the breaker; the next channel is tried at once.
	Misconfigured Class = "misconfigured"
	// Ambiguous: the request may have reached the provider (timeout after
	// the request was written). Retrying may send twice.
	Ambiguous Class = "ambiguous"
)

// Error is a classified channel error.
type Error struct {
	Class      Class
	Code       string        // provider error code, if any ("21211", "554")
	RetryAfter time.Duration // for RateLimited
	// OptedOut: the provider refused because the recipient opted out of
	// (or blocked) this sender; errors.Is(err, ErrOptedOut) reports it.
	// The channel decides it from the provider's own code; routing never
	// reads the text.
	OptedOut bool
	Err      error
}

// ErrOptedOut is what errors.Is finds in a send refused because the
// recipient opted out (Twilio 21610, Telegram's 403 "bot was blocked by
// the user"). Such an error is Permanent: it says nothing about the
// provider's health and never counts against the channel's breaker.
var ErrOptedOut = errors.New("the recipient opted out")

// Is reports ErrOptedOut for an opted-out refusal.
func (e *Error) Is(target error) bool { return target == ErrOptedOut && e.OptedOut }

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s (%s %s)", e.Err, e.Class, e.Code)
	}
	return fmt.Sprintf("%s (%s)", e.Err, e.Class)
}

func (e *Error) Unwrap() error { return e.Err }

// Classify wraps err with a class. A nil err stays nil.
func Classify(class Class, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Class: class, Err: err}
}

// ClassOf returns the class of err. Unclassified errors are transient, except
// context cancellation of the caller, which is also transient (the gateway is
// stopping; the message is retried after restart).
func ClassOf(err error) Class {
	if err == nil {
		return ""
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Class
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Transient
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Transient
	}
	return Transient
}

// RetryAfterOf returns the provider's requested wait, or 0.
func RetryAfterOf(err error) time.Duration {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.RetryAfter
	}
	return 0
}
