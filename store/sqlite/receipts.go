package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

// RecordReceipt applies a provider's delivery report. The decision is made
// in Go on state read inside the writer's transaction; with one writer
// nothing can change between the read and the write.
func (s *Store) RecordReceipt(ctx context.Context, p store.ReceiptParams) (store.ReceiptResult, error) {
	switch p.Status {
	case store.AttemptSent, store.AttemptDelivered, store.AttemptRead, store.AttemptUndelivered:
	default:
		return store.ReceiptResult{}, fmt.Errorf("record receipt: invalid status %q", p.Status)
	}
	if p.Channel == "" || p.ProviderID == "" {
		return store.ReceiptResult{}, store.ErrNotFound
	}
	at := p.At
	if at.IsZero() {
		at = time.Now()
	}
	v, err := s.do(ctx, func(w *writer) (any, error) {
		var (
			a                        store.Attempt
			attStatus                string
			status, channel, lastErr string
			attempts                 int
			dup                      bool
			nextAt                   sql.NullInt64
			cb                       cbState
		)
		err := w.st.receiptState.QueryRow(p.Channel, p.ProviderID).Scan(&a.MessageID, &a.Seq, &attStatus,
			&status, &channel, &attempts, &dup, &lastErr, &nextAt,
			&cb.url, &cb.reported, &cb.scope, &cb.route)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, &cleanError{store.ErrNotFound}
		}
		if err != nil {
			return nil, fmt.Errorf("find attempt: %w", err)
		}
		a.Channel, a.Status = p.Channel, store.AttemptStatus(attStatus)
		cur := store.Status(status)
		current := a.Seq == attempts
		res := store.ReceiptResult{
			MessageID: a.MessageID,
			Seq:       a.Seq,
			Late:      !current || (cur.Final() && channel != a.Channel),
			Status:    cur,
			Duplicate: dup,
		}
		if p.Status.Rank() <= a.Status.Rank() {
			return res, nil // stale or repeated: providers resend and reorder callbacks
		}
		res.Changed = true

		var deliveredAt any
		if p.Status == store.AttemptDelivered || p.Status == store.AttemptRead {
			deliveredAt = at.UnixNano()
		}
		var attErr string
		if p.Status == store.AttemptUndelivered {
			attErr = p.Error
		}
		if _, err := w.st.receiptAttempt.Exec(string(p.Status), attErr, deliveredAt, res.Late, a.MessageID, a.Seq); err != nil {
			return nil, fmt.Errorf("update attempt: %w", err)
		}

		next, nextCh, nextDup, nextErr, nextNext := cur, channel, dup, lastErr, any(nil)
		if nextAt.Valid {
			nextNext = nextAt.Int64
		}
		switch p.Status {
		case store.AttemptDelivered, store.AttemptRead:
			want := store.StatusDelivered
			if p.Status == store.AttemptRead {
				want = store.StatusRead
			}
			if cur == store.StatusDelivered || cur == store.StatusRead {
				// Already delivered: a second channel means the customer got
				// it twice; read still beats delivered.
				if channel != a.Channel {
					nextDup = true
				}
				if want.Rank() > cur.Rank() {
					next = want
				}
			} else {
				// Not delivered yet, failed or expired: the customer got it,
				// and a truthful late delivery beats "failed". The lease is
				// left alone; the dispatcher's Advance finds the message final.
				next, nextCh, nextNext = want, a.Channel, nil
			}
		case store.AttemptUndelivered:
			if current && !cur.Final() {
				nextErr = p.Error
				if nextErr == "" {
					nextErr = "undelivered"
				}
				if p.FailoverOnUndelivered {
					nextNext = at.UnixNano() // due now: the dispatcher moves down the route
				} else {
					next, nextNext = store.StatusFailed, nil
				}
			}
		}
		if next != cur || nextCh != channel || nextDup != dup || nextErr != lastErr || !sameNanos(nextNext, nextAt) {
			if _, err := w.st.receiptMessage.Exec(string(next), nextCh, nextDup, nextErr, nextNext,
				time.Now().UnixNano(), a.MessageID); err != nil {
				return nil, fmt.Errorf("update message: %w", err)
			}
		}
		if next != cur || nextDup != dup {
			// Reported by the receipt's attempt, in the same transaction.
			cb.status, cb.duplicate = next, nextDup
			if err := queueCallback(w, a.MessageID, &cb, a.Channel, a.Seq, nextDup && !dup, at); err != nil {
				return nil, err
			}
		}
		res.Status, res.Duplicate = next, nextDup
		return res, nil
	})
	if err != nil {
		return store.ReceiptResult{}, err
	}
	return v.(store.ReceiptResult), nil
}

func sameNanos(v any, n sql.NullInt64) bool {
	i, ok := v.(int64)
	if !ok {
		return !n.Valid
	}
	return n.Valid && n.Int64 == i
}
