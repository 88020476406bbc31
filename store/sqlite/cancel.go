package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

// cancelSQL is the check-and-set of store.DecideCancel in one statement:
// the single writer runs it between any two Claims or Advances, so no
// dispatcher can take the message between the check and the set.
var cancelSQL = `UPDATE messages SET status = '` + string(store.StatusCanceled) + `', next_at = NULL,
			last_error = ?3, updated_at = ?2, lease_owner = '', lease_until = NULL
			WHERE id = ?1 AND status = '` + string(store.StatusQueued) + `'
			  AND (lease_owner = '' OR lease_until < ?2)
			RETURNING ` + cbStateCols

type cancelResult struct {
	canceled bool
	err      error // store.ErrNotFound or store.ErrNotCancelable: an answer, not a failed op
}

// Cancel implements store.Canceler.
func (s *Store) Cancel(ctx context.Context, id string, now time.Time) (*store.Message, bool, error) {
	if now.IsZero() {
		now = time.Now()
	}
	v, err := s.do(ctx, func(w *writer) (any, error) {
		var cb cbState
		err := cb.scan(w.conn.QueryRowContext(context.Background(), cancelSQL, id, now.UnixNano(), store.CancelNote))
		switch {
		case err == nil:
			// Reported like every final status, in the same transaction.
			return cancelResult{canceled: true}, queueCallback(w, id, &cb, cb.channel, cb.attempts, false, now)
		case !errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("cancel message %s: %w", id, err)
		}
		var (
			status, owner string
			until         sql.NullInt64
		)
		err = w.conn.QueryRowContext(context.Background(),
			`SELECT status, lease_owner, lease_until FROM messages WHERE id = ?`, id).Scan(&status, &owner, &until)
		if errors.Is(err, sql.ErrNoRows) {
			return cancelResult{err: store.ErrNotFound}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("cancel message %s: %w", id, err)
		}
		why := store.DecideCancel(store.Status(status), owner, fromNanos(until), now)
		if store.IsAlreadyCanceled(why) {
			return cancelResult{}, nil
		}
		return cancelResult{err: store.ErrNotCancelable}, nil
	})
	if err != nil {
		return nil, false, err
	}
	r := v.(cancelResult)
	if r.err != nil {
		return nil, false, r.err
	}
	m, err := s.Get(ctx, id)
	if err != nil {
		return nil, false, err
	}
	m.History = nil
	return m, r.canceled, nil
}
