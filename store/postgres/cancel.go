package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-gw/switchboard/store"
)

// Cancel implements store.Canceler. The message's row lock orders it with
// Claim (FOR UPDATE SKIP LOCKED) and Advance (FOR UPDATE): whichever locks
// first wins, and the other sees its result.
func (s *Store) Cancel(ctx context.Context, id string, now time.Time) (*store.Message, bool, error) {
	if err := s.check(); err != nil {
		return nil, false, err
	}
	if now.IsZero() {
		now = time.Now()
	}
	now = micro(now)
	canceled := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		st := msgState{id: id}
		var until *time.Time
		err := tx.QueryRow(ctx, `SELECT `+msgStateCols+`, lease_until FROM messages WHERE id = $1 FOR UPDATE`, id).
			Scan(st.dest(&until)...)
		if isNoRows(err) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("load message state: %w", err)
		}
		var leaseEnd time.Time
		if until != nil {
			leaseEnd = *until
		}
		if why := store.DecideCancel(st.status, st.owner, leaseEnd, now); why != nil {
			if store.IsAlreadyCanceled(why) {
				return nil
			}
			return store.ErrNotCancelable
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE messages SET status = $2, next_at = NULL, last_error = $3, updated_at = $4,
			lease_owner = '', lease_until = NULL WHERE id = $1`, id, string(store.StatusCanceled), store.CancelNote, now)
		// Reported like every final status, in the same transaction.
		if err := queueCallback(b, &st, store.StatusCanceled, st.channel, st.attempts, st.duplicate, now); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("cancel: %w", err)
		}
		canceled = true
		return nil
	})
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrNotCancelable) {
		return nil, false, err
	}
	if err != nil {
		return nil, false, s.wrap(err, "cancel %s", id)
	}
	m, err := s.Get(ctx, id)
	if err != nil {
		return nil, false, err
	}
	m.History = nil
	return m, canceled, nil
}
