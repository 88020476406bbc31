package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

// recentAttemptsSQL walks the attempts primary key (message_id, seq) from
// the first id accepted at or after the bound: no extra index to maintain.
const recentAttemptsSQL = `SELECT ` + attCols + ` FROM attempts
	WHERE message_id >= ? AND started_at >= ? ORDER BY message_id, seq LIMIT ?`

// RecentAttempts implements store.RecentAttempts.
func (s *Store) RecentAttempts(ctx context.Context, acceptedSince, since time.Time, limit int) ([]store.Attempt, error) {
	if s.isClosed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.read.QueryContext(ctx, recentAttemptsSQL, store.IDFloor(acceptedSince), since.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("recent attempts: %w", err)
	}
	defer rows.Close()
	out, err := sqlshared.Collect(rows, scanAttempt)
	if err != nil {
		return nil, fmt.Errorf("recent attempts: %w", err)
	}
	return out, nil
}
