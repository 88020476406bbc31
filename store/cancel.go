package store

import (
	"context"
	"errors"
	"time"
)

// Scheduled reports whether m waits for a due time still ahead of now
// without having been tried: stored as queued with no attempt and NextAt
// after now (a send_at, or quiet hours). The API shows it as
// StatusScheduled. A dispatcher's pre-claimed or released message is due
// at once, so it never reads as scheduled.
func (m *Message) Scheduled(now time.Time) bool {
	return m.Status == StatusQueued && m.Attempts == 0 && m.NextAt.After(now)
}

// ViewStatus is the status the API shows for m at now: StatusScheduled
// for a scheduled message, else its stored status.
func (m *Message) ViewStatus(now time.Time) Status {
	if m.Scheduled(now) {
		return StatusScheduled
	}
	return m.Status
}

// Canceler is implemented by both stores: POST /v1/messages/{id}/cancel.
type Canceler interface {
	// Cancel makes a message that no provider has had final as
	// StatusCanceled, with no attempt recorded, in one atomic
	// check-and-set against Claim and Advance: the message must be queued
	// and not held by a live lease (LeaseUntil >= now: a dispatcher may be
	// handing it over). Its status callback, if it has a callback URL, is
	// queued in the same transaction. A message already canceled is
	// returned as it is (canceled = false). Otherwise ErrNotCancelable, or
	// ErrNotFound. The returned message has no History.
	Cancel(ctx context.Context, id string, now time.Time) (m *Message, canceled bool, err error)
}

// DecideCancel is Cancel's rule over a message's stored state, read under
// the store's lock: nil to cancel, an IsAlreadyCanceled error for an idempotent
// repeat, ErrNotCancelable otherwise.
func DecideCancel(status Status, leaseOwner string, leaseUntil, now time.Time) error {
	switch {
	case status == StatusCanceled:
		return errAlreadyCanceled
	case status != StatusQueued:
		return ErrNotCancelable
	case leaseOwner != "" && !leaseUntil.Before(now):
		return ErrNotCancelable
	}
	return nil
}

// errAlreadyCanceled is DecideCancel's answer for a repeat; drivers check
// it with IsAlreadyCanceled.
var errAlreadyCanceled = errors.New("already canceled")

// IsAlreadyCanceled reports DecideCancel's idempotent repeat.
func IsAlreadyCanceled(err error) bool { return errors.Is(err, errAlreadyCanceled) }

// CancelNote is the last_error a canceled message keeps.
const CancelNote = "canceled through the API before any provider had it"
