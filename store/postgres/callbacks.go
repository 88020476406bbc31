package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

// queueCallback adds to b, inside the transaction that changes the
// message, the status callback reporting the change, when the message has
// a callback URL: one per status reached after queued (statuses only move
// forward, so each is reached once), and one when the message becomes a
// duplicate. channel and seq name the attempt that caused the change.
func queueCallback(b *pgx.Batch, st *msgState, status store.Status, channel string, seq int, dup bool, at time.Time) error {
	if st.callbackURL == "" || status == store.StatusQueued || status == "" {
		return nil
	}
	payload, err := json.Marshal(store.CallbackPayload{
		ID:         st.id,
		Status:     status,
		Channel:    channel,
		Attempt:    seq,
		IsFallback: store.IsFallback(channel, st.route),
		Duplicate:  dup,
		Timestamp:  micro(at),
	})
	if err != nil {
		return fmt.Errorf("encode callback of %s: %w", st.id, err)
	}
	b.Queue(`INSERT INTO callbacks (message_id, url, scope, payload, created_at, next_at)
		VALUES ($1, $2, $3, $4, $5, $5)`, st.id, st.callbackURL, st.scope, string(payload), micro(at))
	return nil
}

const callbackCols = sqlshared.CallbackColumns

var claimCallbacksSQL = `WITH due AS (
		SELECT id FROM callbacks
		WHERE status = 'pending' AND next_at <= $3 AND (lease_owner = '' OR lease_until < $3)
		  -- Per-message order: N+1 waits while N is pending (due, leased
		  -- or backing off).
		  AND NOT EXISTS (SELECT 1 FROM callbacks AS o
			WHERE o.message_id = callbacks.message_id AND o.id < callbacks.id AND o.status = 'pending')
		ORDER BY next_at, id
		LIMIT $4
		FOR UPDATE SKIP LOCKED)
	UPDATE callbacks AS c SET lease_owner = $1, lease_until = $2
	FROM due WHERE c.id = due.id
	RETURNING c.id, COALESCE(c.message_id, c.inbound_id), c.url, c.scope, c.payload, c.status, c.attempts, c.last_error,
		c.created_at, c.next_at, c.finished_at`

// ClaimCallbacks leases up to limit due pending callbacks, oldest due first.
func (s *Store) ClaimCallbacks(ctx context.Context, owner string, lease time.Duration, limit int, now time.Time) ([]store.Callback, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	now, none, err := store.CheckCallbackClaim(owner, limit, now, time.Now)
	if none || err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, claimCallbacksSQL, owner, now.Add(lease), now, limit)
	if err != nil {
		return nil, s.wrap(err, "claim callbacks")
	}
	defer rows.Close()
	out, err := sqlshared.Collect(rows, scanCallback)
	if err != nil {
		return nil, s.wrap(err, "claim callbacks")
	}
	// RETURNING order is unspecified.
	store.SortCallbacks(out)
	return out, nil
}

// FinishCallback records a try's outcome and drops the lease. The owner
// must hold the lease: ErrLeaseLost otherwise (the lease expired and
// another owner claimed the callback), ErrNotFound for an unknown id.
func (s *Store) FinishCallback(ctx context.Context, r store.CallbackResult) error {
	if err := s.check(); err != nil {
		return err
	}
	if r.Owner == "" {
		return errors.New("finish callback: empty owner")
	}
	switch r.Status {
	case store.CallbackPending, store.CallbackDelivered, store.CallbackGaveUp:
	default:
		return fmt.Errorf("finish callback %d: invalid status %q", r.ID, r.Status)
	}
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}
	var next, finished any
	if r.Status == store.CallbackPending {
		next = now
		if !r.NextAt.IsZero() {
			next = r.NextAt
		}
	} else {
		finished = now
	}
	tag, err := s.pool.Exec(ctx, `UPDATE callbacks SET status = $3, attempts = attempts + 1,
		last_error = CASE WHEN $4 <> '' THEN $4 ELSE last_error END,
		next_at = $5, finished_at = $6, lease_owner = '', lease_until = NULL
		WHERE id = $1 AND lease_owner = $2 AND status = 'pending'`, r.ID, r.Owner, r.Status, r.Error, next, finished)
	if err != nil {
		return s.wrap(err, "finish callback %d", r.ID)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var one int
	err = s.pool.QueryRow(ctx, `SELECT 1 FROM callbacks WHERE id = $1`, r.ID).Scan(&one)
	if isNoRows(err) {
		return store.ErrNotFound
	}
	if err != nil {
		return s.wrap(err, "finish callback %d", r.ID)
	}
	return store.ErrLeaseLost
}

// DeferCallbacks hands claimed callbacks back untried, due again at next,
// in one statement.
func (s *Store) DeferCallbacks(ctx context.Context, owner string, ids []int64, next time.Time) error {
	if err := s.check(); err != nil {
		return err
	}
	if owner == "" {
		return errors.New("defer callbacks: empty owner")
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE callbacks SET next_at = $3, lease_owner = '', lease_until = NULL
		WHERE id = ANY($2) AND lease_owner = $1 AND status = 'pending'`, owner, ids, next)
	return s.wrap(err, "defer callbacks")
}

// Callbacks lists a message's callbacks, oldest first.
func (s *Store) Callbacks(ctx context.Context, messageID string) ([]store.Callback, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+callbackCols+` FROM callbacks WHERE message_id = $1 ORDER BY id`, messageID)
	if err != nil {
		return nil, s.wrap(err, "list callbacks")
	}
	defer rows.Close()
	out, err := sqlshared.Collect(rows, scanCallback)
	return out, s.wrap(err, "list callbacks")
}
