package channels

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync/atomic"
	"time"
)

// HTTPClass classifies a provider API's HTTP status. Provider packages
// refine it with the provider's own error codes (Twilio 21211 is a 400 but
// says more), but every HTTP provider starts here so that 429, 401 and 5xx
// mean the same thing everywhere.
func HTTPClass(status int) Class {
	switch {
	case status == http.StatusTooManyRequests:
		return RateLimited
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return Misconfigured
	case status == http.StatusRequestTimeout, status >= 500:
		return Transient
	case status >= 400:
		return Permanent
	}
	return ""
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// It returns 0 when the header is absent or unparseable.
func ParseRetryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// WriteTracker records whether an HTTP request was fully written to the
// connection. Before that, a failure is safe to retry (the provider never
// saw the message); after it, a timeout or reset is ambiguous.
type WriteTracker struct{ wrote atomic.Bool }

// Context returns ctx with an httptrace hook that marks the tracker when
// the request has been written.
func (w *WriteTracker) Context(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				w.wrote.Store(true)
			}
		},
	})
}

// Wrote reports whether the request was written.
func (w *WriteTracker) Wrote() bool { return w.wrote.Load() }

// TransportError classifies an error from http.Client.Do (no response was
// read): transient if the request never reached the provider, ambiguous if
// it was written and the answer was lost (timeout, reset, EOF).
func TransportError(op string, err error, wrote bool) error {
	if err == nil {
		return nil
	}
	if !wrote {
		return &Error{Class: Transient, Err: fmt.Errorf("%s: %w", op, err)}
	}
	return &Error{Class: Ambiguous, Err: fmt.Errorf("%s: request sent but no answer: %w", op, err)}
}

// IsClass reports whether err is classified as c.
func IsClass(err error, c Class) bool {
	var ce *Error
	return errors.As(err, &ce) && ce.Class == c
}
