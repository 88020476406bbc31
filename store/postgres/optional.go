package postgres

import (
	"context"
	"time"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

// makeDueSQL moves next_at earlier for each referenced message whose
// current attempt is still that one, accepted and waiting for a receipt. A
// message waiting with no deadline (next_at NULL) counts as later than at.
var makeDueSQL = `UPDATE messages AS m SET next_at = $1, updated_at = $2
	FROM unnest($3::text[], $4::integer[], $5::text[]) AS r (ref_id, ref_seq, ref_channel)
	WHERE m.id = r.ref_id AND m.attempts = r.ref_seq AND (m.next_at IS NULL OR m.next_at > $1)
	  AND m.status IN ` + notFinal + `
	  AND EXISTS (SELECT 1 FROM attempts AS a WHERE a.message_id = r.ref_id AND a.seq = r.ref_seq
		AND a.channel = r.ref_channel AND a.status = 'sent' AND a.ended_at IS NULL)`

// MakeDue implements store.DueMaker in one statement, and wakes every
// instance's dispatcher.
func (s *Store) MakeDue(ctx context.Context, refs []store.AttemptRef, at time.Time) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if len(refs) == 0 {
		return 0, nil
	}
	ids, seqs, chans := make([]string, len(refs)), make([]int32, len(refs)), make([]string, len(refs))
	for i, r := range refs {
		ids[i], seqs[i], chans[i] = r.MessageID, int32(r.Seq), r.Channel
	}
	tag, err := s.pool.Exec(ctx, makeDueSQL, at, time.Now(), ids, seqs, chans)
	if err != nil {
		return 0, s.wrap(err, "make due")
	}
	if tag.RowsAffected() > 0 {
		s.kick()
	}
	return int(tag.RowsAffected()), nil
}

// RecentAttempts implements store.RecentAttempts, walking the attempts
// primary key from the first id accepted at or after acceptedSince.
func (s *Store) RecentAttempts(ctx context.Context, acceptedSince, since time.Time, limit int) ([]store.Attempt, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+attCols+` FROM attempts
		WHERE message_id >= $1 AND started_at >= $2 ORDER BY message_id, seq LIMIT $3`,
		store.IDFloor(acceptedSince), since, limit)
	if err != nil {
		return nil, s.wrap(err, "recent attempts")
	}
	defer rows.Close()
	out, err := sqlshared.Collect(rows, scanAttempt)
	return out, s.wrap(err, "recent attempts")
}
