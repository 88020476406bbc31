package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

// Inbound messages (store.InboundStore).

const inboundCols = sqlshared.InboundColumns

func scanInbound(sc sqlshared.Scanner) (*store.InboundMessage, error) {
	return sqlshared.ScanInbound[pgTime](sc)
}

// SaveInbound stores m and queues its callback in one transaction. Two
// instances saving the same provider message race on the unique
// (channel, provider_id) index: ON CONFLICT DO NOTHING lets one write it,
// and the other reads it back as a duplicate.
func (s *Store) SaveInbound(ctx context.Context, m *store.InboundMessage, callbackURL string) (*store.InboundMessage, bool, error) {
	if err := s.check(); err != nil {
		return nil, false, err
	}
	n, err := store.PrepareInbound(m)
	if err != nil {
		return nil, false, err
	}
	var (
		out *store.InboundMessage
		dup bool
	)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out, dup = n, false
		if n.ReplyToProviderID != "" {
			err := tx.QueryRow(ctx, `SELECT message_id FROM attempts WHERE channel = $1 AND provider_id = $2 LIMIT 1`,
				n.Channel, n.ReplyToProviderID).Scan(&n.ReplyTo)
			if err != nil && !isNoRows(err) {
				return fmt.Errorf("resolve reply: %w", err)
			}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO inbound (`+inboundCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (channel, provider_id) WHERE provider_id <> '' DO NOTHING`,
			n.ID, n.Channel, n.Kind, n.From, n.To, n.Text, n.ProviderID, n.ReplyToProviderID, n.ReplyTo, n.ReceivedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			old, err := scanInbound(tx.QueryRow(ctx, `SELECT `+inboundCols+` FROM inbound WHERE channel = $1 AND provider_id = $2`, n.Channel, n.ProviderID))
			if err != nil {
				return err
			}
			out, dup = old, true
			return nil
		}
		if callbackURL == "" {
			return nil
		}
		payload, err := json.Marshal(store.InboundPayloadOf(n))
		if err != nil {
			return fmt.Errorf("encode inbound callback: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO callbacks (inbound_id, url, scope, payload, created_at, next_at)
			VALUES ($1, $2, $3, $4, $5, $5)`, n.ID, callbackURL, store.InboundCallbackScope, string(payload), n.ReceivedAt)
		return err
	})
	if err != nil {
		return nil, false, s.wrap(err, "save inbound")
	}
	return out, dup, nil
}

// ListInbound returns a page of inbound messages, newest first.
func (s *Store) ListInbound(ctx context.Context, p store.InboundListParams) (store.InboundListResult, error) {
	if err := s.check(); err != nil {
		return store.InboundListResult{}, err
	}
	limit, after, err := store.InboundPage(p)
	if err != nil {
		return store.InboundListResult{}, err
	}
	q, args := sqlshared.InboundListQuery(inboundCols, p, after, limit, "$", func(t time.Time) any { return t })
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return store.InboundListResult{}, s.wrap(err, "list inbound")
	}
	defer rows.Close()
	ms, err := sqlshared.Collect(rows, scanInbound)
	if err != nil {
		return store.InboundListResult{}, s.wrap(err, "list inbound")
	}
	return store.InboundPageOf(ms, limit), nil
}
