package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

// RecordReceipt applies a provider's delivery report: the state is read
// inside the writer's transaction, store.DecideReceipt decides, and the
// decision is written in the same transaction. With one writer nothing can
// change between the read and the write.
func (s *Store) RecordReceipt(ctx context.Context, p store.ReceiptParams) (store.ReceiptResult, error) {
	at, err := store.CheckReceipt(p, time.Now)
	if err != nil {
		return store.ReceiptResult{}, err
	}
	v, err := s.do(ctx, func(w *writer) (any, error) {
		var (
			rs        store.ReceiptState
			attStatus string
			status    string
			nextAt    sql.NullInt64
			cb        cbState
		)
		err := w.st.receiptState.QueryRow(p.Channel, p.ProviderID).Scan(&rs.MessageID, &rs.Seq, &attStatus,
			&status, &rs.Policy, &rs.Channel, &rs.Attempts, &rs.Duplicate, &rs.LastError, &nextAt,
			&cb.url, &cb.reported, &cb.scope, &cb.route)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, &cleanError{store.ErrNotFound}
		}
		if err != nil {
			return nil, fmt.Errorf("find attempt: %w", err)
		}
		rs.AttemptStatus, rs.Status, rs.NextAt = store.AttemptStatus(attStatus), store.Status(status), fromNanos(nextAt)
		d := store.DecideReceipt(rs, p, at)
		if !d.Result.Changed {
			return d.Result, nil
		}
		if _, err := w.st.receiptAttempt.Exec(string(p.Status), d.AttemptError, nanos(d.DeliveredAt), d.Result.Late,
			rs.MessageID, rs.Seq, nanos(d.ReadAt)); err != nil {
			return nil, fmt.Errorf("update attempt: %w", err)
		}
		if d.MessageChanged {
			if _, err := w.st.receiptMessage.Exec(string(d.Status), d.Channel, d.Duplicate, d.LastError,
				nextAtArg(d.NextAt, d.Status.Final() && !store.AwaitsRead(d.Status, d.NextAt)), time.Now().UnixNano(), rs.MessageID); err != nil {
				return nil, fmt.Errorf("update message: %w", err)
			}
		}
		if d.StatusChanged || d.DuplicateSet {
			// Reported by the receipt's attempt, in the same transaction.
			cb.status, cb.duplicate = d.Status, d.Duplicate
			if err := queueCallback(w, rs.MessageID, &cb, p.Channel, rs.Seq, d.DuplicateSet, at); err != nil {
				return nil, err
			}
		}
		return d.Result, nil
	})
	if err != nil {
		return store.ReceiptResult{}, err
	}
	return v.(store.ReceiptResult), nil
}
