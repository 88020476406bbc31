package postgres

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

var msgColNames = []string{"id", "idem_scope", "idem_key", "request_hash", "policy", "route",
	"to_phone", "to_whatsapp", "to_email", "to_telegram", "body", "subject", "tags", "metadata", "callback_url",
	"status", "channel", "step", "tries", "attempts", "duplicate", "last_error",
	"created_at", "updated_at", "expires_at", "next_at", "lease_owner", "lease_until", "html"}

var msgCols = strings.Join(msgColNames, ", ")

// msgColsOf is msgCols qualified by a table alias.
func msgColsOf(alias string) string {
	q := make([]string, len(msgColNames))
	for i, c := range msgColNames {
		q[i] = alias + "." + c
	}
	return strings.Join(q, ", ")
}

const attCols = `message_id, seq, step, channel, status, provider_id, error_class, error,
	info, reason, ambiguous, late, started_at, ended_at, delivered_at`

// notFinal lists the statuses Claim and Stats treat as work left to do,
// derived from store.Status.Final so the two cannot drift apart.
var notFinal = func() string {
	var q []string
	for _, s := range []store.Status{store.StatusQueued, store.StatusSending, store.StatusSent,
		store.StatusDelivered, store.StatusRead, store.StatusFailed, store.StatusExpired} {
		if !s.Final() {
			q = append(q, "'"+string(s)+"'")
		}
	}
	return "(" + strings.Join(q, ", ") + ")"
}()

// attemptRankSQL is store.AttemptStatus.Rank as an SQL expression over col.
func attemptRankSQL(col string) string {
	var b strings.Builder
	b.WriteString("(CASE " + col)
	for _, s := range []store.AttemptStatus{store.AttemptSkipped, store.AttemptFailed, store.AttemptSent,
		store.AttemptUndelivered, store.AttemptDelivered, store.AttemptRead} {
		fmt.Fprintf(&b, " WHEN '%s' THEN %d", s, s.Rank())
	}
	b.WriteString(" ELSE -1 END)")
	return b.String()
}

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
		metadata                                  []byte
		phone, whatsapp, email, telegram          pgtype.Text
		status                                    string
		created, updated, expires, next, leaseEnd pgtype.Timestamptz
	)
	dest := []any{&m.ID, &m.IdempotencyScope, &m.IdempotencyKey, &m.RequestHash, &m.Policy, &m.Route,
		&phone, &whatsapp, &email, &telegram, &m.Body, &m.Subject, &m.Tags, &metadata, &m.CallbackURL,
		&status, &m.Channel, &m.Step, &m.Tries, &m.Attempts, &m.Duplicate, &m.LastError,
		&created, &updated, &expires, &next, &m.LeaseOwner, &leaseEnd, &m.HTML}
	if err := sc.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	m.Status = store.Status(status)
	m.To = store.Recipient{Phone: phone.String, WhatsApp: whatsapp.String, Email: email.String, Telegram: telegram.String}
	m.CreatedAt, m.UpdatedAt, m.ExpiresAt = fromTS(created), fromTS(updated), fromTS(expires)
	m.NextAt, m.LeaseUntil = fromTS(next), fromTS(leaseEnd)
	if len(metadata) > 0 {
		if err := json.Unmarshal(metadata, &m.Metadata); err != nil {
			return nil, fmt.Errorf("decode metadata of %s: %w", m.ID, err)
		}
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

func scanAttempt(sc scanner) (store.Attempt, error) {
	var (
		a                         store.Attempt
		status, why               string
		started, ended, delivered pgtype.Timestamptz
	)
	if err := sc.Scan(&a.MessageID, &a.Seq, &a.Step, &a.Channel, &status, &a.ProviderID, &a.ErrorClass, &a.Error,
		&a.Info, &why, &a.Ambiguous, &a.Late, &started, &ended, &delivered); err != nil {
		return a, err
	}
	a.Status, a.Reason = store.AttemptStatus(status), reason.Parse(why)
	a.StartedAt, a.EndedAt, a.DeliveredAt = fromTS(started), fromTS(ended), fromTS(delivered)
	return a, nil
}

func attemptArgs(messageID string, a *store.Attempt) []any {
	return []any{messageID, a.Seq, a.Step, a.Channel, string(a.Status), a.ProviderID, a.ErrorClass, a.Error,
		a.Info, a.Reason.String(), a.Ambiguous, a.Late, ts(a.StartedAt), ts(a.EndedAt), ts(a.DeliveredAt)}
}

// upsertAttemptSQL records an attempt, or updates the one with its seq.
// ambiguous is never cleared: when an instance that lost its lease
// mid-send records its attempt after the instance that took the message
// over recorded its own under the same seq (both took the next one), the
// takeover's flag is what says the message may have gone out twice.
var upsertAttemptSQL = `INSERT INTO attempts (` + attCols + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
	ON CONFLICT (message_id, seq) DO UPDATE SET
		reason = excluded.reason,
		ended_at = excluded.ended_at,
		error = excluded.error,
		error_class = excluded.error_class,
		ambiguous = attempts.ambiguous OR excluded.ambiguous,
		status = CASE WHEN ` + attemptRankSQL("excluded.status") + ` > ` + attemptRankSQL("attempts.status") + `
			THEN excluded.status ELSE attempts.status END`
