package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-gw/switchboard/store"
)

// SetOverride records an ops override and notifies every instance, in one
// transaction (a NOTIFY is delivered at commit).
func (s *Store) SetOverride(ctx context.Context, o store.Override) error {
	if err := s.check(); err != nil {
		return err
	}
	if o.Channel == "" {
		return errors.New("set override: empty channel")
	}
	at := o.At
	if at.IsZero() {
		at = time.Now()
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO channel_overrides (channel, disabled, reason, updated_by, updated_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (channel) DO UPDATE SET disabled = excluded.disabled, reason = excluded.reason,
				updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
			o.Channel, o.Disabled, o.Reason, o.By, micro(at)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, overridesChannel, o.Channel)
		return err
	})
	return s.wrap(err, "set override for %s", o.Channel)
}

// Overrides lists every recorded override, by channel name.
func (s *Store) Overrides(ctx context.Context) ([]store.Override, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT channel, disabled, reason, updated_by, updated_at
		FROM channel_overrides ORDER BY channel`)
	if err != nil {
		return nil, s.wrap(err, "list overrides")
	}
	defer rows.Close()
	var out []store.Override
	for rows.Next() {
		var o store.Override
		if err := rows.Scan(&o.Channel, &o.Disabled, &o.Reason, &o.By, &o.At); err != nil {
			return nil, s.wrap(err, "scan override")
		}
		o.At = o.At.UTC()
		out = append(out, o)
	}
	return out, s.wrap(rows.Err(), "list overrides")
}
