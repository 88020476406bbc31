package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

// Ops overrides (store.OverrideStore). With one process per SQLite file
// there are no other instances to tell; keeping them makes a disabled
// channel stay disabled across a restart.

// SetOverride records o, replacing any earlier override of its channel.
func (s *Store) SetOverride(ctx context.Context, o store.Override) error {
	if o.Channel == "" {
		return errors.New("set override: empty channel")
	}
	at := o.At
	if at.IsZero() {
		at = time.Now()
	}
	_, err := s.do(ctx, func(w *writer) (any, error) {
		_, err := w.conn.ExecContext(context.Background(), `INSERT INTO channel_overrides (channel, disabled, reason, updated_by, updated_at)
			VALUES (?1, ?2, ?3, ?4, ?5)
			ON CONFLICT (channel) DO UPDATE SET disabled = excluded.disabled, reason = excluded.reason,
				updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
			o.Channel, o.Disabled, o.Reason, o.By, at.UnixNano())
		if err != nil {
			return nil, fmt.Errorf("set override for %s: %w", o.Channel, err)
		}
		return nil, nil
	})
	if err == nil {
		s.overridesSignal()
	}
	return err
}

// Overrides lists every recorded override, by channel name.
func (s *Store) Overrides(ctx context.Context) ([]store.Override, error) {
	if s.isClosed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.read.QueryContext(ctx, `SELECT channel, disabled, reason, updated_by, updated_at FROM channel_overrides ORDER BY channel`)
	if err != nil {
		return nil, fmt.Errorf("list overrides: %w", err)
	}
	defer rows.Close()
	var out []store.Override
	for rows.Next() {
		var o store.Override
		var at int64
		if err := rows.Scan(&o.Channel, &o.Disabled, &o.Reason, &o.By, &at); err != nil {
			return nil, fmt.Errorf("scan override: %w", err)
		}
		o.At = time.Unix(0, at).UTC()
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list overrides: %w", err)
	}
	return out, nil
}

// OverridesChanged receives after each SetOverride of this process.
func (s *Store) OverridesChanged() <-chan struct{} { return s.overrides }

func (s *Store) overridesSignal() {
	select {
	case s.overrides <- struct{}{}:
	default:
	}
}
