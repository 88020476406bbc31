package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

// makeDueSQL moves a message's next_at earlier when its current attempt is
// still the referenced one, accepted and waiting for a receipt. A message
// waiting with no deadline has next_at = notDue, later than any at.
var makeDueSQL = `UPDATE messages SET next_at = ?1, updated_at = ?2
	WHERE id = ?3 AND attempts = ?4 AND next_at IS NOT NULL AND next_at > ?1
	AND status IN ` + notFinal + `
	AND EXISTS (SELECT 1 FROM attempts a WHERE a.message_id = ?3 AND a.seq = ?4
		AND a.channel = ?5 AND a.status = 'sent' AND a.ended_at IS NULL)`

// MakeDue implements store.DueMaker: the messages waiting on a channel that
// went silent fail over now. One write op for all refs.
func (s *Store) MakeDue(ctx context.Context, refs []store.AttemptRef, at time.Time) (int, error) {
	if len(refs) == 0 {
		return 0, nil
	}
	v, err := s.do(ctx, func(w *writer) (any, error) {
		n := 0
		now := time.Now().UnixNano()
		for _, r := range refs {
			res, err := w.conn.ExecContext(context.Background(), makeDueSQL, at.UnixNano(), now, r.MessageID, r.Seq, r.Channel)
			if err != nil {
				return nil, fmt.Errorf("make due %s: %w", r.MessageID, err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return nil, fmt.Errorf("make due %s: %w", r.MessageID, err)
			}
			n += int(k)
		}
		return n, nil
	})
	if err != nil {
		return 0, err
	}
	return v.(int), nil
}
