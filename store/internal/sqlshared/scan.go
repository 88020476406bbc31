package sqlshared

import (
	"database/sql"
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/money"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// Reading rows back. The column lists are the same in both schemas; what
// differs is how a driver stores times (unix nanoseconds, timestamptz) and
// collections (JSON text, arrays and jsonb). A driver names its scan
// destinations for those through the type parameters below and keeps the
// rest here.

// Scanner is a row: *sql.Row, *sql.Rows, pgx.Row, pgx.Rows.
type Scanner interface{ Scan(dest ...any) error }

// Rows is a result set: *sql.Rows, pgx.Rows.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Collect scans every row of rows with scan. The caller closes rows.
func Collect[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Time is a driver's scan destination for a nullable time column: a
// pointer to T that reads back as a time (zero for NULL).
type Time[T any] interface {
	*T
	Time() time.Time
}

// Collections is a driver's scan destination for a message's route, tags
// and metadata columns: a pointer to C.
type Collections[C any] interface {
	*C
	// Dests are the scan destinations of route, tags and metadata.
	Dests() (route, tags, metadata any)
	// Decode sets m's Route, Tags and Metadata from what was scanned.
	Decode(m *store.Message) error
}

// ScanMessage reads MessageColumns, then any extra destinations. Empty
// collections come back nil (store.NormalizeMessage).
func ScanMessage[T any, PT Time[T], C any, PC Collections[C]](sc Scanner, extra ...any) (*store.Message, error) {
	var (
		m                                         store.Message
		colls                                     C
		phone, whatsapp, email, telegram          nullString
		status                                    string
		created, updated, expires, next, leaseEnd T
	)
	route, tags, metadata := PC(&colls).Dests()
	dest := []any{&m.ID, &m.IdempotencyScope, &m.IdempotencyKey, &m.RequestHash, &m.Policy, route,
		&phone, &whatsapp, &email, &telegram, &m.Body, &m.Subject, tags, metadata, &m.CallbackURL,
		&status, &m.Channel, &m.Step, &m.Tries, &m.Attempts, &m.Duplicate, &m.LastError,
		PT(&created), PT(&updated), PT(&expires), PT(&next), &m.LeaseOwner, PT(&leaseEnd), &m.HTML}
	if err := sc.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	m.Status = store.Status(status)
	m.To = store.Recipient{Phone: phone.String, WhatsApp: whatsapp.String, Email: email.String, Telegram: telegram.String}
	m.CreatedAt, m.UpdatedAt, m.ExpiresAt = PT(&created).Time(), PT(&updated).Time(), PT(&expires).Time()
	m.NextAt, m.LeaseUntil = PT(&next).Time(), PT(&leaseEnd).Time()
	if err := PC(&colls).Decode(&m); err != nil {
		return nil, err
	}
	store.NormalizeMessage(&m)
	return &m, nil
}

// ScanAttempt reads AttemptColumns.
func ScanAttempt[T any, PT Time[T]](sc Scanner) (store.Attempt, error) {
	var (
		a                         store.Attempt
		status, why, costSource   string
		started, ended, delivered T
		read                      T
	)
	if err := sc.Scan(&a.MessageID, &a.Seq, &a.Step, &a.Channel, &status, &a.ProviderID, &a.ErrorClass, &a.Error,
		&a.Info, &why, &a.Ambiguous, &a.Late, PT(&started), PT(&ended), PT(&delivered), PT(&read), &a.Sender,
		&a.Cost.Micros, &a.Cost.Currency, &costSource, &a.Cost.Detail); err != nil {
		return a, err
	}
	a.Status, a.Reason = store.AttemptStatus(status), reason.Parse(why)
	a.Cost.Source = store.CostSource(costSource)
	a.StartedAt, a.EndedAt, a.DeliveredAt = PT(&started).Time(), PT(&ended).Time(), PT(&delivered).Time()
	a.ReadAt = PT(&read).Time()
	return a, nil
}

// ScanCallback reads CallbackColumns.
func ScanCallback[T any, PT Time[T]](sc Scanner) (store.Callback, error) {
	var (
		cb                      store.Callback
		payload                 string
		created, next, finished T
	)
	if err := sc.Scan(&cb.ID, &cb.MessageID, &cb.URL, &cb.Scope, &payload, &cb.Status, &cb.Attempts, &cb.LastError,
		PT(&created), PT(&next), PT(&finished)); err != nil {
		return cb, err
	}
	cb.Payload = []byte(payload)
	cb.CreatedAt, cb.NextAt, cb.FinishedAt = PT(&created).Time(), PT(&next).Time(), PT(&finished).Time()
	return cb, nil
}

// nullString reads a nullable text column (recipients: NULL keeps them out
// of the partial indexes).
type nullString = sql.NullString

// MessageColumns are the messages columns ScanMessage reads, in order.
const MessageColumns = `id, idem_scope, idem_key, request_hash, policy, route,
	to_phone, to_whatsapp, to_email, to_telegram, body, subject, tags, metadata, callback_url,
	status, channel, step, tries, attempts, duplicate, last_error,
	created_at, updated_at, expires_at, next_at, lease_owner, lease_until, html`

// MessageColumnNames are MessageColumns one by one (for COPY).
var MessageColumnNames = func() []string {
	cols := strings.Split(MessageColumns, ",")
	for i, c := range cols {
		cols[i] = strings.TrimSpace(c)
	}
	return cols
}()

// MessageColumnsOf is MessageColumns qualified by a table alias.
func MessageColumnsOf(alias string) string {
	q := make([]string, len(MessageColumnNames))
	for i, c := range MessageColumnNames {
		q[i] = alias + "." + c
	}
	return strings.Join(q, ", ")
}

// AttemptColumns are the attempts columns ScanAttempt reads, in order.
const AttemptColumns = AttemptInsertColumns + `, ` + AttemptCostColumns

// AttemptInsertColumns are the columns an attempt without a cost is
// written with: the cost columns keep their defaults, so attempts on
// channels without a cost write what they wrote before costs existed.
const AttemptInsertColumns = `message_id, seq, step, channel, status, provider_id, error_class, error,
	info, reason, ambiguous, late, started_at, ended_at, delivered_at, read_at, sender`

// AttemptCostColumns are an attempt's cost (migration 0011), written only
// for an attempt that has one.
const AttemptCostColumns = `cost_micros, cost_currency, cost_source, cost_detail`

// CostArgs are the values of AttemptCostColumns for c.
func CostArgs(c store.Cost) []any {
	return []any{int64(c.Micros), c.Currency, string(c.Source), c.Detail}
}

// CallbackColumns are the callbacks columns ScanCallback reads, in order.
const CallbackColumns = `id, COALESCE(message_id, inbound_id), url, scope, payload, status, attempts, last_error, created_at, next_at, finished_at`

// SpendScanner scans a row of `channel, currency, micros` from
// channel_spend into a store.Spend of day.
func SpendScanner(day string) func(Scanner) (store.Spend, error) {
	return func(sc Scanner) (store.Spend, error) {
		sp := store.Spend{Day: day}
		var m int64
		err := sc.Scan(&sp.Channel, &sp.Currency, &m)
		sp.Micros = money.Micros(m)
		return sp, err
	}
}
