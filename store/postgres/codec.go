package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

var msgCols = sqlshared.MessageColumns

// msgColsOf is msgCols qualified by a table alias.
func msgColsOf(alias string) string { return sqlshared.MessageColumnsOf(alias) }

const attCols = sqlshared.AttemptColumns

// notFinal lists the statuses Claim and Stats treat as work left to do.
var notFinal = sqlshared.NotFinal

// claimable lists the statuses Claim takes a due message in: notFinal and
// delivered, for a message waiting for its read (store.AwaitsRead).
var claimable = sqlshared.Claimable

// ts is a time argument: the zero time is NULL.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// micro drops what PostgreSQL does not keep (below a microsecond, the
// monotonic reading, the location), so a value handed back by Enqueue
// equals the one Get reads later.
func micro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

func fromTS(t pgtype.Timestamptz) time.Time {
	if !t.Valid || t.InfinityModifier != pgtype.Finite {
		return time.Time{}
	}
	return t.Time.UTC()
}

// nullIfEmpty keeps empty recipients out of the partial recipient indexes.
var nullIfEmpty = sqlshared.NullIfEmpty

type scanner = sqlshared.Scanner

// pgTime scans a timestamptz (fromTS).
type pgTime struct{ pgtype.Timestamptz }

func (t *pgTime) Time() time.Time { return fromTS(t.Timestamptz) }

// pgColls scans a message's route and tags (text arrays) and metadata
// (jsonb).
type pgColls struct {
	route, tags []string
	metadata    []byte
}

func (c *pgColls) Dests() (route, tags, metadata any) { return &c.route, &c.tags, &c.metadata }

func (c *pgColls) Decode(m *store.Message) error {
	m.Route, m.Tags = c.route, c.tags
	if len(c.metadata) > 0 {
		if err := json.Unmarshal(c.metadata, &m.Metadata); err != nil {
			return fmt.Errorf("decode metadata of %s: %w", m.ID, err)
		}
	}
	return nil
}

// scanOneMessage is scanMessage for sqlshared.Collect.
func scanOneMessage(sc scanner) (*store.Message, error) { return scanMessage(sc) }

// scanMessage reads the msgCols columns, then any extra destinations.
func scanMessage(sc scanner, extra ...any) (*store.Message, error) {
	return sqlshared.ScanMessage[pgTime, *pgTime, pgColls](sc, extra...)
}

func scanAttempt(sc scanner) (store.Attempt, error) { return sqlshared.ScanAttempt[pgTime](sc) }

func scanCallback(sc scanner) (store.Callback, error) { return sqlshared.ScanCallback[pgTime](sc) }

func attemptArgs(messageID string, a *store.Attempt) []any {
	return []any{messageID, a.Seq, a.Step, a.Channel, string(a.Status), a.ProviderID, a.ErrorClass, a.Error,
		a.Info, a.Reason.String(), a.Ambiguous, a.Late, ts(a.StartedAt), ts(a.EndedAt), ts(a.DeliveredAt), ts(a.ReadAt), a.Sender}
}

// upsertAttemptSQL records an attempt, or updates the one with its seq.
// ambiguous is never cleared: when an instance that lost its lease
// mid-send records its attempt after the instance that took the message
// over recorded its own under the same seq (both took the next one), the
// takeover's flag is what says the message may have gone out twice.
// The cost columns keep their defaults here (upsertAttemptCostSQL writes
// them) and an upsert of an attempt already recorded keeps its cost.
var upsertAttemptSQL = `INSERT INTO attempts (` + sqlshared.AttemptInsertColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
	ON CONFLICT (message_id, seq) DO UPDATE SET` + upsertAttemptSet

var upsertAttemptSet = `
		reason = excluded.reason,
		ended_at = excluded.ended_at,
		error = excluded.error,
		error_class = excluded.error_class,
		ambiguous = attempts.ambiguous OR excluded.ambiguous,
		status = CASE WHEN ` + sqlshared.AttemptRank("excluded.status") + ` > ` + sqlshared.AttemptRank("attempts.status") + `
			THEN excluded.status ELSE attempts.status END`
