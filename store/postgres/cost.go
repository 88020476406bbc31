package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/switchboard-gw/switchboard/money"
	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

// Costs and spend (migration 0011). The spend counters are written in the
// transaction that records the attempt or the receipt, never in one of
// their own: a message on a channel without a cost queues no statement
// here. A counter row is one per channel, day and currency, so instances
// that record costs on the same channel at once wait on its row lock for
// the length of a commit (and a rare deadlock between two group commits
// is the server-refused case txn_batch.go already handles).

const addSpendSQL = `INSERT INTO channel_spend (channel, day, currency, micros) VALUES ($1, $2::date, $3, $4)
	ON CONFLICT (day, channel, currency) DO UPDATE SET micros = channel_spend.micros + excluded.micros`

// upsertAttemptCostSQL is upsertAttemptSQL for an attempt with a cost.
var upsertAttemptCostSQL = `INSERT INTO attempts (` + sqlshared.AttemptColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
	ON CONFLICT (message_id, seq) DO UPDATE SET` + upsertAttemptSet

// queueAttempt queues the upsert of attempt a.
func queueAttempt(b *pgx.Batch, id string, a *store.Attempt) {
	if a.Cost.IsZero() {
		b.Queue(upsertAttemptSQL, attemptArgs(id, a)...)
		return
	}
	b.Queue(upsertAttemptCostSQL, append(attemptArgs(id, a), sqlshared.CostArgs(a.Cost)...)...)
}

// queueSpend queues the additions to the spend counters.
func queueSpend(b *pgx.Batch, spend []store.Spend) {
	for _, sp := range spend {
		if sp.Micros != 0 {
			b.Queue(addSpendSQL, sp.Channel, sp.Day, sp.Currency, int64(sp.Micros))
		}
	}
}

// receiptCost applies a receipt's reported cost to its attempt and moves
// the spend counters with it (store.DecideCost), in the receipt's
// transaction, under its message's lock.
func receiptCost(ctx context.Context, tx querier, b *pgx.Batch, id string, seq int, channel string, c store.Cost) ([]store.Spend, error) {
	var (
		old     store.Cost
		micros  int64
		source  string
		started pgtype.Timestamptz
	)
	err := tx.QueryRow(ctx, `SELECT `+sqlshared.AttemptCostColumns+`, started_at FROM attempts WHERE message_id = $1 AND seq = $2`,
		id, seq).Scan(&micros, &old.Currency, &source, &old.Detail, &started)
	if err != nil {
		return nil, fmt.Errorf("read attempt cost: %w", err)
	}
	old.Micros, old.Source = money.Micros(micros), store.CostSource(source)
	replace, deltas := store.DecideCost(old, c, channel, fromTS(started))
	if !replace {
		return nil, nil
	}
	b.Queue(`UPDATE attempts SET cost_micros = $1, cost_currency = $2, cost_source = $3, cost_detail = $4
		WHERE message_id = $5 AND seq = $6`, append(sqlshared.CostArgs(c), id, seq)...)
	queueSpend(b, deltas)
	return deltas, nil
}

// ChannelSpend reads every channel's spend on day.
func (s *Store) ChannelSpend(ctx context.Context, day string) ([]store.Spend, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT channel, currency, micros FROM channel_spend WHERE day = $1::date`, day)
	if err != nil {
		return nil, s.wrap(err, "channel spend")
	}
	defer rows.Close()
	out, err := sqlshared.Collect(rows, sqlshared.SpendScanner(day))
	if err != nil {
		return nil, s.wrap(err, "channel spend")
	}
	return out, nil
}
