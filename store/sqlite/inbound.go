package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

// Inbound messages (store.InboundStore).

const inboundCols = sqlshared.InboundColumns

func scanInbound(sc sqlshared.Scanner) (*store.InboundMessage, error) {
	return sqlshared.ScanInbound[nanoTime](sc)
}

// SaveInbound stores m and queues its callback in one writer op.
func (s *Store) SaveInbound(ctx context.Context, m *store.InboundMessage, callbackURL string) (*store.InboundMessage, bool, error) {
	n, err := store.PrepareInbound(m)
	if err != nil {
		return nil, false, err
	}
	type saved struct {
		m   *store.InboundMessage
		dup bool
	}
	v, err := s.do(ctx, func(w *writer) (any, error) {
		bg := context.Background()
		if n.ProviderID != "" {
			old, err := scanInbound(w.conn.QueryRowContext(bg, `SELECT `+inboundCols+` FROM inbound WHERE channel = ?1 AND provider_id = ?2`, n.Channel, n.ProviderID))
			switch {
			case err == nil:
				return saved{old, true}, nil
			case !errors.Is(err, sql.ErrNoRows):
				return nil, fmt.Errorf("save inbound: %w", err)
			}
		}
		if n.ReplyToProviderID != "" {
			err := w.conn.QueryRowContext(bg, `SELECT message_id FROM attempts WHERE channel = ?1 AND provider_id = ?2 LIMIT 1`,
				n.Channel, n.ReplyToProviderID).Scan(&n.ReplyTo)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return nil, fmt.Errorf("save inbound: resolve reply: %w", err)
			}
		}
		if _, err := w.conn.ExecContext(bg, `INSERT INTO inbound (`+inboundCols+`) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)`,
			n.ID, n.Channel, n.Kind, n.From, n.To, n.Text, n.ProviderID, n.ReplyToProviderID, n.ReplyTo, n.ReceivedAt.UnixNano()); err != nil {
			return nil, fmt.Errorf("save inbound: %w", err)
		}
		if callbackURL != "" {
			payload, err := json.Marshal(store.InboundPayloadOf(n))
			if err != nil {
				return nil, fmt.Errorf("encode inbound callback: %w", err)
			}
			if _, err := w.conn.ExecContext(bg, `INSERT INTO callbacks (inbound_id, url, scope, payload, status, created_at, next_at)
				VALUES (?1, ?2, ?3, ?4, '`+store.CallbackPending+`', ?5, ?5)`,
				n.ID, callbackURL, store.InboundCallbackScope, string(payload), n.ReceivedAt.UnixNano()); err != nil {
				return nil, fmt.Errorf("queue inbound callback: %w", err)
			}
		}
		return saved{n, false}, nil
	})
	if err != nil {
		return nil, false, err
	}
	r := v.(saved)
	return r.m, r.dup, nil
}

// ListInbound returns a page of inbound messages, newest first.
func (s *Store) ListInbound(ctx context.Context, p store.InboundListParams) (store.InboundListResult, error) {
	if s.isClosed.Load() {
		return store.InboundListResult{}, store.ErrClosed
	}
	limit, after, err := store.InboundPage(p)
	if err != nil {
		return store.InboundListResult{}, err
	}
	q, args := sqlshared.InboundListQuery(inboundCols, p, after, limit, "?", func(t time.Time) any { return t.UnixNano() })
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return store.InboundListResult{}, fmt.Errorf("list inbound: %w", err)
	}
	defer rows.Close()
	ms, err := sqlshared.Collect(rows, scanInbound)
	if err != nil {
		return store.InboundListResult{}, fmt.Errorf("list inbound: %w", err)
	}
	return store.InboundPageOf(ms, limit), nil
}
