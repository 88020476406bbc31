package store

import (
	"fmt"
	"time"
)

// The receipt rule. Both stores read ReceiptState under their write lock
// (SQLite's single writer, PostgreSQL's row lock), call DecideReceipt and
// write what it says: a driver holds the SQL and the mapping, the rule
// lives here once.

// CheckReceipt validates p before a store looks anything up, and returns
// the time the receipt counts at (p.At, or now when it is zero). A receipt
// with no channel or provider id matches no attempt: ErrNotFound.
func CheckReceipt(p ReceiptParams, now func() time.Time) (time.Time, error) {
	switch p.Status {
	case AttemptSent, AttemptDelivered, AttemptRead, AttemptUndelivered:
	default:
		return time.Time{}, fmt.Errorf("record receipt: invalid status %q", p.Status)
	}
	if p.Channel == "" || p.ProviderID == "" {
		return time.Time{}, ErrNotFound
	}
	if p.At.IsZero() {
		return now(), nil
	}
	return p.At, nil
}

// ReceiptState is what a store reads before applying a receipt: the
// attempt the receipt matched and its message's routing state.
type ReceiptState struct {
	MessageID     string
	Seq           int           // the matched attempt
	AttemptStatus AttemptStatus // its stored status
	Status        Status        // the message's
	Channel       string        // the message's current/delivering channel
	Policy        string        // the message's, for ReceiptParams.ReadTimeouts
	Attempts      int
	Duplicate     bool
	LastError     string
	NextAt        time.Time // zero: not due
}

// ReceiptDecision is what a receipt does. When Result.Changed is false
// nothing is written. Otherwise the attempt's status becomes the receipt's,
// with AttemptError (kept as it was when empty), DeliveredAt (kept when
// already set, or when zero) and Late (or-ed in); and when MessageChanged
// the message's fields become Status, Channel, Duplicate, LastError and
// NextAt (zero: not due; always zero for a final Status).
type ReceiptDecision struct {
	Result ReceiptResult

	AttemptError string
	DeliveredAt  time.Time
	ReadAt       time.Time // set by a read receipt (kept when already set)

	MessageChanged bool
	Status         Status
	Channel        string
	Duplicate      bool
	LastError      string
	NextAt         time.Time

	// StatusChanged and DuplicateSet say what the status callback reports
	// (see CallbackOutbox): a new status, and the duplicate flag set by
	// this receipt.
	StatusChanged bool
	DuplicateSet  bool
	// DueNow: an undelivered receipt made the message due at once, so the
	// dispatcher moves down the route (a shared store wakes every
	// instance).
	DueNow bool
}

// DecideReceipt applies receipt p, counted at at, to state s:
//   - a receipt that does not rank above the attempt's stored status is
//     stale or repeated (providers resend and reorder callbacks) and
//     changes nothing;
//   - delivered or read: the message becomes delivered or read (a truthful
//     late delivery beats failed or expired), and one already delivered on
//     another channel becomes a duplicate; read still beats delivered;
//   - delivered on the current attempt of a message whose policy has a
//     read timeout for the channel (p.ReadTimeouts): delivered, and due
//     at the read deadline, when the dispatcher moves on with no_read
//     unless a read receipt came first (read is final: not due);
//   - undelivered on the current attempt of a message that is not final:
//     due now when p.FailoverOnUndelivered (the policy's "undelivered"
//     trigger), failed otherwise;
//   - the receipt is Late when the route had moved on from its attempt.
//
// Leases are never touched: the dispatcher's Advance finds the message
// final.
func DecideReceipt(s ReceiptState, p ReceiptParams, at time.Time) ReceiptDecision {
	current := s.Seq == s.Attempts
	d := ReceiptDecision{
		Result: ReceiptResult{
			MessageID: s.MessageID,
			Seq:       s.Seq,
			Late:      !current || (s.Status.Final() && s.Channel != p.Channel),
			Status:    s.Status,
			Duplicate: s.Duplicate,
		},
		Status:    s.Status,
		Channel:   s.Channel,
		Duplicate: s.Duplicate,
		LastError: s.LastError,
		NextAt:    s.NextAt,
	}
	if p.Status.Rank() <= s.AttemptStatus.Rank() {
		return d // stale or repeated
	}
	d.Result.Changed = true
	switch p.Status {
	case AttemptDelivered, AttemptRead:
		d.DeliveredAt = at
		want := StatusDelivered
		if p.Status == AttemptRead {
			want, d.ReadAt = StatusRead, at
		}
		if s.Status == StatusDelivered || s.Status == StatusRead {
			// Already delivered: a second channel means the customer got
			// it twice.
			if s.Channel != p.Channel {
				d.Duplicate = true
			}
			if want.Rank() > s.Status.Rank() {
				// Read: no read deadline is left to wait for.
				d.Status, d.NextAt = want, time.Time{}
			}
		} else {
			// Not delivered yet, failed or expired: the customer got it.
			d.Status, d.Channel, d.NextAt = want, p.Channel, time.Time{}
			if rt := p.ReadTimeouts[s.Policy]; want == StatusDelivered && rt > 0 && current && !s.Status.Final() {
				// Delivered, but the policy wants it read: due at the
				// read deadline (AwaitsRead).
				d.NextAt = at.Add(rt)
			}
		}
	case AttemptUndelivered:
		d.AttemptError = p.Error
		if current && !s.Status.Final() {
			d.LastError = p.Error
			if d.LastError == "" {
				d.LastError = "undelivered"
			}
			if p.FailoverOnUndelivered {
				d.NextAt, d.DueNow = at, true
			} else {
				d.Status, d.NextAt = StatusFailed, time.Time{}
			}
		}
	}
	d.StatusChanged = d.Status != s.Status
	d.DuplicateSet = d.Duplicate && !s.Duplicate
	d.MessageChanged = d.StatusChanged || d.DuplicateSet || d.Channel != s.Channel ||
		d.LastError != s.LastError || !d.NextAt.Equal(s.NextAt)
	d.Result.Status, d.Result.Duplicate = d.Status, d.Duplicate
	return d
}
