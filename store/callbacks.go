package store

import (
	"context"
	"time"
)

// Callback is one status callback to a business app, kept in a durable
// outbox: the store writes it in the same transaction as the status change
// it reports, so a change is never visible without its callback queued.
type Callback struct {
	ID int64
	// MessageID is the message the callback reports on; for an inbound
	// message's callback (Scope InboundCallbackScope), the inbound
	// message's id.
	MessageID string
	URL       string
	// Scope is the API key name that sent the message: its secret signs
	// the callback.
	Scope   string
	Payload []byte // JSON, see CallbackPayload
	// Status is "pending", "delivered" or "gave_up".
	Status     string
	Attempts   int
	LastError  string
	CreatedAt  time.Time
	NextAt     time.Time
	FinishedAt time.Time
}

// Callback statuses.
const (
	CallbackPending   = "pending"
	CallbackDelivered = "delivered"
	CallbackGaveUp    = "gave_up"
)

// CallbackPayload is the JSON body of a status callback.
type CallbackPayload struct {
	ID         string    `json:"id"`
	Status     Status    `json:"status"`
	Channel    string    `json:"channel,omitempty"`
	Attempt    int       `json:"attempt"`
	IsFallback bool      `json:"is_fallback"`
	Duplicate  bool      `json:"duplicate"`
	Timestamp  time.Time `json:"timestamp"`
}

// CallbackResult is the outcome of one delivery try.
type CallbackResult struct {
	ID     int64
	Owner  string
	Status string    // CallbackDelivered, CallbackGaveUp, or CallbackPending to retry
	NextAt time.Time // for a retry
	Error  string    // what the last try got ("HTTP 503", "dial: refused")
	Now    time.Time
}

// CallbackOutbox is the callback side of a store.
//
// What is queued (store/storetest RunCallbacks pins it): for a message with
// a CallbackURL, Advance and RecordReceipt write one callback, in the same
// transaction, for each status the message reaches after queued (sending,
// sent, delivered, read, failed, expired: never queued, never the same
// status twice) and one when Duplicate becomes true. Its payload's Attempt
// and Channel are the attempt that caused the change (0 and "" when there
// is none), IsFallback is Channel != Route[0], Timestamp the change's time
// (Transition.Now, ReceiptParams.At), and CreatedAt = NextAt = that time.
type CallbackOutbox interface {
	// ClaimCallbacks leases up to limit due pending callbacks (NextAt <=
	// now, not leased or lease expired), oldest due first, taking only a
	// message's oldest pending callback: callback N+1 of a message is not
	// claimed while N is pending (leased or backing off), so a message's
	// callbacks are delivered in order.
	ClaimCallbacks(ctx context.Context, owner string, lease time.Duration, limit int, now time.Time) ([]Callback, error)
	// FinishCallback records a try's outcome (Attempts+1; LastError is
	// kept when r.Error is empty) and drops the lease. Pending: due again
	// at r.NextAt (r.Now if zero). Delivered or gave up: FinishedAt =
	// r.Now, never claimed again. Only the lease holder (the owner that
	// claimed it last, even if the lease passed) may: otherwise
	// ErrLeaseLost and nothing changes; unknown id: ErrNotFound.
	FinishCallback(ctx context.Context, r CallbackResult) error
	// DeferCallbacks hands claimed callbacks back untried: each of ids
	// still leased by owner and pending is due again at next, its lease
	// dropped, Attempts and LastError unchanged. The sender defers what it
	// claimed for a destination that is busy or whose breaker is open, so
	// the wait is in the store (any instance, or a restart, picks it up at
	// next) and holds no worker. An id no longer leased by owner, finished,
	// or unknown is skipped: there is nothing of owner's to hand back.
	DeferCallbacks(ctx context.Context, owner string, ids []int64, next time.Time) error
	// Callbacks lists a message's callbacks, oldest first.
	Callbacks(ctx context.Context, messageID string) ([]Callback, error)
}
