package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

// purgeCandidatesSQL walks the primary key from the oldest message: with
// time-ordered ids the old rows are the first ones, and those still due or
// with a callback to deliver are the rare exceptions it steps over.
const purgeCandidatesSQL = `SELECT id, tags FROM messages AS m
	WHERE id < ?1 AND (next_at IS NULL OR next_at = ?3)
	  AND NOT EXISTS (SELECT 1 FROM callbacks AS c WHERE c.message_id = m.id AND c.status = 'pending')
	ORDER BY id LIMIT ?2`

// Purge implements store.Purger in one writer op: attempts and callbacks
// follow the messages by their foreign keys' ON DELETE CASCADE, and tag
// rows are deleted by their exact keys (tag, message id) from each
// message's tags column.
func (s *Store) Purge(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	floor := store.IDFloor(before)
	v, err := s.do(ctx, func(w *writer) (any, error) {
		bg := context.Background()
		rows, err := w.conn.QueryContext(bg, purgeCandidatesSQL, floor, limit, int64(notDue))
		if err != nil {
			return nil, fmt.Errorf("find messages to purge: %w", err)
		}
		type victim struct {
			id   string
			tags []string
		}
		var vs []victim
		for rows.Next() {
			var v victim
			var tags string
			if err := rows.Scan(&v.id, &tags); err != nil {
				rows.Close()
				return nil, fmt.Errorf("scan message to purge: %w", err)
			}
			if err := json.Unmarshal([]byte(tags), &v.tags); err != nil {
				rows.Close()
				return nil, fmt.Errorf("tags of %s: %w", v.id, err)
			}
			vs = append(vs, v)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("find messages to purge: %w", err)
		}
		if len(vs) == 0 {
			return 0, nil
		}
		ids := make([]any, len(vs))
		for i, v := range vs {
			ids[i] = v.id
			for _, tag := range v.tags {
				if _, err := w.st.deleteTag.Exec(tag, v.id); err != nil {
					return nil, fmt.Errorf("purge tags of %s: %w", v.id, err)
				}
			}
		}
		q := `DELETE FROM messages WHERE id IN (?` + strings.Repeat(", ?", len(ids)-1) + `)`
		res, err := w.conn.ExecContext(bg, q, ids...)
		if err != nil {
			return nil, fmt.Errorf("purge messages: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("purge messages: %w", err)
		}
		return int(n), nil
	})
	if err != nil {
		return 0, err
	}
	return v.(int), nil
}

var purgeInboundSQL = sqlshared.PurgeInboundSQL("?1", "?2")

// PurgeInbound implements store.Purger in one writer op.
func (s *Store) PurgeInbound(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	v, err := s.do(ctx, func(w *writer) (any, error) {
		res, err := w.conn.ExecContext(context.Background(), purgeInboundSQL, store.IDFloor(before), limit)
		if err != nil {
			return nil, fmt.Errorf("purge inbound: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("purge inbound: %w", err)
		}
		return int(n), nil
	})
	if err != nil {
		return 0, err
	}
	return v.(int), nil
}
