package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
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
// not and whose NextAt is next.
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
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

type scanner interface{ Scan(dest ...any) error }

// scanMessage reads the msgCols columns, then any extra destinations.
func scanMessage(sc scanner, extra ...any) (*store.Message, error) {
	var (
		m                                         store.Message
		route, tags, metadata                     string
		phone, whatsapp, email, telegram          sql.NullString
		status                                    string
		created, updated, expires, next, leaseEnd sql.NullInt64
	)
	dest := []any{&m.ID, &m.IdempotencyScope, &m.IdempotencyKey, &m.RequestHash, &m.Policy, &route,
		&phone, &whatsapp, &email, &telegram, &m.Body, &m.Subject, &tags, &metadata, &m.CallbackURL,
		&status, &m.Channel, &m.Step, &m.Tries, &m.Attempts, &m.Duplicate, &m.LastError,
		&created, &updated, &expires, &next, &m.LeaseOwner, &leaseEnd, &m.HTML}
	if err := sc.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	m.Status = store.Status(status)
	m.To = store.Recipient{Phone: phone.String, WhatsApp: whatsapp.String, Email: email.String, Telegram: telegram.String}
	m.CreatedAt, m.UpdatedAt, m.ExpiresAt = fromNanos(created), fromNanos(updated), fromNanos(expires)
	m.NextAt, m.LeaseUntil = fromNanos(next), fromNanos(leaseEnd)
	if err := unmarshalJSON(route, &m.Route); err != nil {
		return nil, fmt.Errorf("decode route of %s: %w", m.ID, err)
	}
	if err := unmarshalJSON(tags, &m.Tags); err != nil {
		return nil, fmt.Errorf("decode tags of %s: %w", m.ID, err)
	}
	if err := unmarshalJSON(metadata, &m.Metadata); err != nil {
		return nil, fmt.Errorf("decode metadata of %s: %w", m.ID, err)
	}
	// Empty collections come back nil so a round trip compares equal
	// whichever way the caller spelled "none".
	if len(m.Route) == 0 {
		m.Route = nil
	}
	if len(m.Tags) == 0 {
		m.Tags = nil
	}
	if len(m.Metadata) == 0 {
		m.Metadata = nil
	}
	return &m, nil
}

func unmarshalJSON(s string, v any) error {
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), v)
}

func scanAttempt(sc scanner) (store.Attempt, error) {
	var (
		a                         store.Attempt
		status, why               string
		started, ended, delivered sql.NullInt64
	)
	if err := sc.Scan(&a.MessageID, &a.Seq, &a.Step, &a.Channel, &status, &a.ProviderID, &a.ErrorClass, &a.Error,
		&a.Info, &why, &a.Ambiguous, &a.Late, &started, &ended, &delivered); err != nil {
		return a, err
	}
	a.Status, a.Reason = store.AttemptStatus(status), reason.Parse(why)
	a.StartedAt, a.EndedAt, a.DeliveredAt = fromNanos(started), fromNanos(ended), fromNanos(delivered)
	return a, nil
}

func attemptArgs(messageID string, a *store.Attempt) []any {
	return []any{messageID, a.Seq, a.Step, a.Channel, string(a.Status), a.ProviderID, a.ErrorClass, a.Error,
		a.Info, a.Reason.String(), a.Ambiguous, a.Late, nanos(a.StartedAt), nanos(a.EndedAt), nanos(a.DeliveredAt)}
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Round(0) // drop the monotonic reading: stored times have none
}
