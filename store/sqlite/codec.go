package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

// Times are stored as unix nanoseconds; the zero time is NULL because its
// UnixNano is out of int64 range.
func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid || n.Int64 == notDue {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// notDue is next_at for a message that is not final but not due either
// (sent, waiting for a receipt with no deadline); it reads back as the zero
// NextAt. NULL is kept for final messages, so every message that is not
// final is in messages_due: Stats counts pending work and Release finds
// leases there, and no index on status or lease is needed. Claim's
// "next_at <= now" never reaches it.
const notDue = math.MaxInt64

// nextAtArg is the next_at to store for a message whose status is final or
// not and whose NextAt is next. A final message keeps next_at NULL, except
// a delivered one waiting for its read (store.AwaitsRead), which the
// caller passes as not final.
func nextAtArg(next time.Time, final bool) any {
	switch {
	case final:
		return nil
	case next.IsZero():
		return int64(notDue)
	}
	return next.UnixNano()
}

// nullIfEmpty keeps empty recipients out of the partial recipient indexes.
var nullIfEmpty = sqlshared.NullIfEmpty

type scanner = sqlshared.Scanner

// nanoTime scans a time stored as unix nanoseconds (fromNanos).
type nanoTime struct{ sql.NullInt64 }

func (t *nanoTime) Time() time.Time { return fromNanos(t.NullInt64) }

// jsonColls scans a message's route, tags and metadata, stored as JSON.
type jsonColls struct{ route, tags, metadata string }

func (c *jsonColls) Dests() (route, tags, metadata any) { return &c.route, &c.tags, &c.metadata }

func (c *jsonColls) Decode(m *store.Message) error {
	if err := unmarshalJSON(c.route, &m.Route); err != nil {
		return fmt.Errorf("decode route of %s: %w", m.ID, err)
	}
	if err := unmarshalJSON(c.tags, &m.Tags); err != nil {
		return fmt.Errorf("decode tags of %s: %w", m.ID, err)
	}
	if err := unmarshalJSON(c.metadata, &m.Metadata); err != nil {
		return fmt.Errorf("decode metadata of %s: %w", m.ID, err)
	}
	return nil
}

// scanOneMessage is scanMessage for sqlshared.Collect.
func scanOneMessage(sc scanner) (*store.Message, error) { return scanMessage(sc) }

// scanMessage reads the msgCols columns, then any extra destinations.
func scanMessage(sc scanner, extra ...any) (*store.Message, error) {
	return sqlshared.ScanMessage[nanoTime, *nanoTime, jsonColls](sc, extra...)
}

func unmarshalJSON(s string, v any) error {
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), v)
}

func scanAttempt(sc scanner) (store.Attempt, error) { return sqlshared.ScanAttempt[nanoTime](sc) }

func scanCallback(sc scanner) (store.Callback, error) { return sqlshared.ScanCallback[nanoTime](sc) }

// attemptArgs are the values of sqlshared.AttemptInsertColumns, followed
// by the cost columns' when a has a cost.
func attemptArgs(messageID string, a *store.Attempt) []any {
	args := []any{messageID, a.Seq, a.Step, a.Channel, string(a.Status), a.ProviderID, a.ErrorClass, a.Error,
		a.Info, a.Reason.String(), a.Ambiguous, a.Late, nanos(a.StartedAt), nanos(a.EndedAt), nanos(a.DeliveredAt), nanos(a.ReadAt), a.Sender}
	if !a.Cost.IsZero() {
		args = append(args, sqlshared.CostArgs(a.Cost)...)
	}
	return args
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Round(0) // drop the monotonic reading: stored times have none
}
