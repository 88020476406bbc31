package postgres

import (
	"context"
	"time"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

// purgeSQL deletes one batch, oldest first. SKIP LOCKED lets several
// instances purge at once without waiting on each other's rows (or on a
// row a dispatcher holds); tags live on the row, and attempts and
// callbacks follow by their foreign keys' ON DELETE CASCADE.
//
// A purged message that was not final (waiting for a receipt with no
// deadline) takes its message_queue row along (migration 0012).
const purgeSQL = `WITH d AS (DELETE FROM messages WHERE id IN (
	SELECT id FROM messages AS m
	WHERE id < $1 AND next_at IS NULL
	  AND NOT EXISTS (SELECT 1 FROM callbacks AS c WHERE c.message_id = m.id AND c.status = 'pending')
	ORDER BY id LIMIT $2
	FOR UPDATE SKIP LOCKED) RETURNING id),
	q AS (DELETE FROM message_queue WHERE id IN (SELECT id FROM d))
	SELECT count(*) FROM d`

// Purge implements store.Purger.
func (s *Store) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, nil
	}
	var n int
	if err := s.pool.QueryRow(ctx, purgeSQL, store.IDFloor(before), limit).Scan(&n); err != nil {
		return 0, s.wrap(err, "purge messages")
	}
	return n, nil
}

var purgeInboundSQL = sqlshared.PurgeInboundSQL("$1", "$2")

// PurgeInbound implements store.Purger.
func (s *Store) PurgeInbound(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, purgeInboundSQL, store.IDFloor(before), limit)
	if err != nil {
		return 0, s.wrap(err, "purge inbound")
	}
	return int(tag.RowsAffected()), nil
}
