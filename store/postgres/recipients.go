package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-gw/switchboard/store"
)

// countRecipientSQL reads one (policy, recipient) prefix of the
// recipient_sends primary key from the window's id floor on.
const countRecipientSQL = `SELECT count(*) FROM recipient_sends
	WHERE policy = $1 AND recipient = $2 AND message_id >= $3`

const nthRecipientSQL = `SELECT message_id FROM recipient_sends
	WHERE policy = $1 AND recipient = $2 AND message_id >= $3
	ORDER BY message_id LIMIT 1 OFFSET $4`

// CountRecipient implements store.RecipientCounter.
func (s *Store) CountRecipient(ctx context.Context, policy, recipient string, since time.Time) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var n int
	if err := s.pool.QueryRow(ctx, countRecipientSQL, policy, recipient, store.IDFloor(since)).Scan(&n); err != nil {
		return 0, s.wrap(err, "count messages to a recipient")
	}
	return n, nil
}

// enqueueLimited is Enqueue for a message with a per-recipient limit: one
// transaction that first takes a transaction-scoped advisory lock per
// (policy, recipient), so every instance sending to that recipient under
// that policy queues behind it, then counts, then inserts. Two instances
// can therefore not both see 4 of 5 and both accept. Locks are taken in
// key order so two messages sharing two recipients cannot deadlock; a hash
// collision only makes two unrelated recipients wait for each other.
func (s *Store) enqueueLimited(ctx context.Context, n *store.Message, args []any, lim *store.RecipientLimit) (*store.Message, bool, error) {
	keys := store.RecipientKeys(n.To)
	slices.Sort(keys)
	var old *store.Message
	var limited *store.RecipientLimitError
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		for _, k := range keys {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, n.Policy+"/"+k); err != nil {
				return err
			}
		}
		var err error
		old, limited, err = insertLimitedLocked(ctx, tx, n, args, lim)
		return err
	})
	if err != nil {
		return nil, false, s.wrap(err, "insert message")
	}
	if limited != nil {
		return nil, false, limited
	}
	if old != nil {
		return old, true, nil
	}
	if n.LeaseOwner == "" {
		s.kick() // claimable now by any instance
	}
	return n, false, nil
}

// insertLimitedLocked counts and inserts one limited message inside tx,
// which holds the advisory locks of its (policy, recipient) keys: old is
// the stored message when its idempotency key is taken, limited the
// refusal when a recipient is at its limit; neither writes anything.
func insertLimitedLocked(ctx context.Context, tx pgx.Tx, n *store.Message, args []any, lim *store.RecipientLimit) (old *store.Message, limited *store.RecipientLimitError, err error) {
	keys := store.RecipientKeys(n.To)
	floor := store.IDFloor(lim.Since)
	err = func() error {
		if n.IdempotencyKey != "" {
			m, err := scanMessage(tx.QueryRow(ctx, `SELECT `+msgCols+` FROM messages
				WHERE idem_scope = $1 AND idem_key = $2 AND idem_key <> ''`, n.IdempotencyScope, n.IdempotencyKey))
			if err == nil {
				old = m
				return nil
			}
			if !isNoRows(err) {
				return err
			}
		}
		if lim.Max > 0 {
			for _, k := range keys {
				var count int
				if err := tx.QueryRow(ctx, countRecipientSQL, n.Policy, k, floor).Scan(&count); err != nil {
					return err
				}
				if count < lim.Max {
					continue
				}
				limited = &store.RecipientLimitError{Key: k, Count: count}
				var id string
				if err := tx.QueryRow(ctx, nthRecipientSQL, n.Policy, k, floor, count-lim.Max).Scan(&id); err == nil {
					limited.Oldest = store.IDTime(id)
				}
				return nil
			}
		}
		tag, err := tx.Exec(ctx, insertQueuedSQL, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			// Another request with this idempotency key committed first.
			m, err := scanMessage(tx.QueryRow(ctx, `SELECT `+msgCols+` FROM messages
				WHERE idem_scope = $1 AND idem_key = $2 AND idem_key <> ''`, n.IdempotencyScope, n.IdempotencyKey))
			if err != nil {
				return err
			}
			old = m
			return nil
		}
		b := &pgx.Batch{}
		for _, k := range keys {
			b.Queue(`INSERT INTO recipient_sends (policy, recipient, message_id) VALUES ($1, $2, $3)
				ON CONFLICT DO NOTHING`, n.Policy, k, n.ID)
		}
		return tx.SendBatch(ctx, b).Close()
	}()
	return old, limited, err
}
