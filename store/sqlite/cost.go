package sqlite

import (
	"context"
	"fmt"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

// Costs and spend (migration 0011). The spend counters are written in the
// writer op that records the attempt or the receipt, never in one of their
// own: a message on a channel without a cost runs no statement here.

const addSpendSQL = `INSERT INTO channel_spend (channel, day, currency, micros) VALUES (?1, ?2, ?3, ?4)
	ON CONFLICT (day, channel, currency) DO UPDATE SET micros = micros + excluded.micros`

const attemptCostSQL = `SELECT ` + sqlshared.AttemptCostColumns + `, started_at FROM attempts WHERE message_id = ? AND seq = ?`

const setAttemptCostSQL = `UPDATE attempts SET cost_micros = ?, cost_currency = ?, cost_source = ?, cost_detail = ?
	WHERE message_id = ? AND seq = ?`

// addSpend adds each spend to its counter.
func addSpend(w *writer, spend []store.Spend) error {
	for _, sp := range spend {
		if sp.Micros == 0 {
			continue
		}
		if _, err := w.st.addSpend.Exec(sp.Channel, sp.Day, sp.Currency, int64(sp.Micros)); err != nil {
			return fmt.Errorf("add spend of %s: %w", sp.Channel, err)
		}
	}
	return nil
}

// receiptCost applies a receipt's reported cost to its attempt and moves
// the spend counters with it (store.DecideCost), in the receipt's op.
func receiptCost(w *writer, id string, seq int, channel string, c store.Cost) ([]store.Spend, error) {
	var (
		old     store.Cost
		source  string
		started nanoTime
	)
	if err := w.st.attemptCost.QueryRow(id, seq).Scan(&old.Micros, &old.Currency, &source, &old.Detail, &started); err != nil {
		return nil, fmt.Errorf("read attempt cost: %w", err)
	}
	old.Source = store.CostSource(source)
	replace, deltas := store.DecideCost(old, c, channel, started.Time())
	if !replace {
		return nil, nil
	}
	if _, err := w.st.setAttemptCost.Exec(append(sqlshared.CostArgs(c), id, seq)...); err != nil {
		return nil, fmt.Errorf("set attempt cost: %w", err)
	}
	return deltas, addSpend(w, deltas)
}

// ChannelSpend reads every channel's spend on day.
func (s *Store) ChannelSpend(ctx context.Context, day string) ([]store.Spend, error) {
	if s.isClosed.Load() {
		return nil, store.ErrClosed
	}
	rows, err := s.read.QueryContext(ctx, `SELECT channel, currency, micros FROM channel_spend WHERE day = ?`, day)
	if err != nil {
		return nil, fmt.Errorf("channel spend: %w", err)
	}
	defer rows.Close()
	out, err := sqlshared.Collect(rows, sqlshared.SpendScanner(day))
	if err != nil {
		return nil, fmt.Errorf("channel spend: %w", err)
	}
	return out, nil
}
