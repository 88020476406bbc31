package store

import (
	"errors"
	"fmt"
	"time"
)

// The transition rule (Store.Advance). Both stores check a transition with
// CheckTransition before they touch anything, read AdvanceState under
// their write lock, and write what DecideAdvance says. store/sqlite's
// common case (the caller holds the lease of a message that is not final)
// is the same rule run inside one UPDATE; it falls back to DecideAdvance
// for everything else.

// CheckTransition validates t and returns the highest attempt seq it
// records (0 for none) and the time it counts at (t.Now, or now when
// zero).
func CheckTransition(t *Transition, now func() time.Time) (maxSeq int, at time.Time, err error) {
	if t == nil || t.MessageID == "" {
		return 0, time.Time{}, errors.New("advance: no message id")
	}
	if t.Status != "" && !t.Status.Valid() {
		return 0, time.Time{}, fmt.Errorf("advance %s: invalid status %q", t.MessageID, t.Status)
	}
	for i := range t.Attempts {
		a := &t.Attempts[i]
		if a.Seq < 1 {
			return 0, time.Time{}, fmt.Errorf("advance %s: attempt seq %d < 1", t.MessageID, a.Seq)
		}
		if a.Status.Rank() < 0 {
			return 0, time.Time{}, fmt.Errorf("advance %s: attempt %d: invalid status %q", t.MessageID, a.Seq, a.Status)
		}
		maxSeq = max(maxSeq, a.Seq)
	}
	at = t.Now
	if at.IsZero() {
		at = now()
	}
	return maxSeq, at, nil
}

// AdvanceState is what a store reads, under its lock, before deciding a
// transition.
type AdvanceState struct {
	Status   Status
	Owner    string // the lease owner, "" for none
	Attempts int
}

// AdvanceDecision is what a transition does to its message. The
// transition's attempts are recorded in every case (they describe provider
// calls that happened).
type AdvanceDecision struct {
	// Owned: the caller holds the lease (LeaseOwner == Owner, even if it
	// passed); the lease is dropped. Not owned: Advance returns
	// ErrLeaseLost after writing the attempts and Attempts.
	Owned bool
	// Apply: the message's routing fields become the transition's, with
	// Status and NextAt below. Only for an owned message that is not final:
	// one that a receipt made final meanwhile is left alone.
	Apply  bool
	Status Status    // never ranks below the stored status
	NextAt time.Time // zero: not due (always for a final Status)
	// Attempts is max(stored Attempts, the highest seq recorded), so that
	// "current = seq == Attempts" holds for receipts and Claim in every
	// branch.
	Attempts int
}

// DecideAdvance decides transition t, whose highest attempt seq is maxSeq
// (see CheckTransition), on the message state s.
func DecideAdvance(s AdvanceState, t *Transition, maxSeq int) AdvanceDecision {
	d := AdvanceDecision{
		Owned:    t.Owner != "" && s.Owner == t.Owner,
		Status:   s.Status,
		Attempts: max(s.Attempts, maxSeq),
	}
	fromDelivered := t.ReadWait && s.Status == StatusDelivered
	d.Apply = d.Owned && (!s.Status.Final() || fromDelivered)
	if !d.Apply {
		return d
	}
	if t.Status != "" && (t.Status.Rank() >= s.Status.Rank() || fromDelivered) {
		d.Status = t.Status
	}
	if !d.Status.Final() || (t.ReadWait && AwaitsRead(d.Status, t.NextAt)) {
		d.NextAt = t.NextAt
	}
	return d
}

// AwaitsRead reports whether a message with status s and due time next is
// delivered and waiting for its read receipt (a policy's read_timeout):
// the one final status that is still due, at the read deadline. Claim
// takes such a message like one that is not final, and both stores keep
// its next_at.
func AwaitsRead(s Status, next time.Time) bool { return s == StatusDelivered && !next.IsZero() }

// Err is the error Advance returns once the decision is written.
func (d AdvanceDecision) Err() error {
	if !d.Owned {
		return ErrLeaseLost
	}
	return nil
}

// ReportingAttempt names the attempt that caused an Advance's status
// change, for its status callback: the highest one t records. ok is false
// when t records none; the store then reports the message's current
// attempt (Seq == Attempts), if it has one.
func ReportingAttempt(t *Transition) (seq int, channel string, ok bool) {
	for i := range t.Attempts {
		if a := &t.Attempts[i]; a.Seq >= seq {
			seq, channel = a.Seq, a.Channel
		}
	}
	return seq, channel, seq > 0
}
