package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

// countRecipientSQL reads one (policy, recipient) prefix of the
// recipient_sends primary key from the window's id floor on: the rows in
// the window, never the table.
const countRecipientSQL = `SELECT count(*) FROM recipient_sends
	WHERE policy = ? AND recipient = ? AND message_id >= ?`

// nthRecipientSQL finds, among the same rows oldest first, the message
// whose leaving the window brings the count under the limit.
const nthRecipientSQL = `SELECT message_id FROM recipient_sends
	WHERE policy = ? AND recipient = ? AND message_id >= ?
	ORDER BY message_id LIMIT 1 OFFSET ?`

// CountRecipient implements store.RecipientCounter.
func (s *Store) CountRecipient(ctx context.Context, policy, recipient string, since time.Time) (int, error) {
	if s.isClosed.Load() {
		return 0, store.ErrClosed
	}
	var n int
	if err := s.read.QueryRowContext(ctx, countRecipientSQL, policy, recipient, store.IDFloor(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count messages to a recipient: %w", err)
	}
	return n, nil
}

// checkRecipientLimit runs in Enqueue's writer op before the insert. A
// message whose idempotency key is already stored is a replay, answered
// with the stored message whatever the count. Otherwise a recipient at its
// limit refuses the message before anything is written (a cleanError).
func (w *writer) checkRecipientLimit(n *store.Message, keys []string, lim *store.RecipientLimit) (*store.Message, error) {
	if n.IdempotencyKey != "" {
		old, err := scanMessage(w.st.messageByIdem.QueryRow(n.IdempotencyScope, n.IdempotencyKey))
		if err == nil {
			return old, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("load message for idempotency key: %w", err)
		}
	}
	if lim.Max <= 0 {
		return nil, nil
	}
	floor := store.IDFloor(lim.Since)
	for _, k := range keys {
		var count int
		if err := w.st.countRecipient.QueryRow(n.Policy, k, floor).Scan(&count); err != nil {
			return nil, fmt.Errorf("count messages to a recipient: %w", err)
		}
		if count < lim.Max {
			continue
		}
		e := &store.RecipientLimitError{Key: k, Count: count}
		var id string
		if err := w.st.nthRecipient.QueryRow(n.Policy, k, floor, count-lim.Max).Scan(&id); err == nil {
			e.Oldest = store.IDTime(id)
		}
		return nil, &cleanError{err: e}
	}
	return nil, nil
}
