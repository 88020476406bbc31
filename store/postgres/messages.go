package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

var insertMessageSQL = `INSERT INTO messages (id, idem_scope, idem_key, request_hash, policy, route,
	to_phone, to_whatsapp, to_email, to_telegram, body, subject, tags, metadata, callback_url,
	status, created_at, updated_at, expires_at, next_at, lease_owner, lease_until, html)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
	ON CONFLICT (idem_scope, idem_key) WHERE idem_key <> '' DO NOTHING`

// insertQueuedSQL inserts one message and its message_queue row.
var insertQueuedSQL = withQueueRows(insertMessageSQL)

// Enqueue stores a new message, pre-claimed when m carries a lease.
func (s *Store) Enqueue(ctx context.Context, m *store.Message) (*store.Message, bool, error) {
	if err := s.check(); err != nil {
		return nil, false, err
	}
	n, err := store.ToEnqueue(m, micro)
	if err != nil {
		return nil, false, err
	}
	meta := "{}"
	if n.Metadata != nil {
		b, err := json.Marshal(n.Metadata)
		if err != nil {
			return nil, false, fmt.Errorf("encode metadata: %w", err)
		}
		meta = string(b)
	}
	args := []any{n.ID, n.IdempotencyScope, n.IdempotencyKey, n.RequestHash,
		n.Policy, orEmpty(n.Route),
		nullIfEmpty(n.To.Phone), nullIfEmpty(n.To.WhatsApp), nullIfEmpty(n.To.Email), nullIfEmpty(n.To.Telegram),
		n.Body, n.Subject, orEmpty(n.Tags), meta, n.CallbackURL,
		string(n.Status), n.CreatedAt, n.UpdatedAt, ts(n.ExpiresAt), n.NextAt, n.LeaseOwner, ts(n.LeaseUntil), n.HTML}
	return s.enqueueBatched(ctx, n, args, m.Limit)
}

// enqueueOne stores one message in a transaction of its own: the path of a
// message whose batch failed (enqueue_batch.go).
func (s *Store) enqueueOne(ctx context.Context, n *store.Message, args []any, lim *store.RecipientLimit) (*store.Message, bool, error) {
	if lim != nil {
		return s.enqueueLimited(ctx, n, args, lim)
	}
	// ON CONFLICT DO NOTHING then SELECT: the unique index decides which of
	// two racing requests with one key wins, never a prior read. A racing
	// insert that has not committed yet makes this one wait for it.
	tag, err := s.pool.Exec(ctx, insertQueuedSQL, args...)
	if err != nil {
		return nil, false, s.wrap(err, "insert message")
	}
	if tag.RowsAffected() == 1 {
		if n.LeaseOwner == "" {
			s.kick() // claimable now by any instance
		}
		return n, false, nil
	}
	old, err := scanMessage(s.pool.QueryRow(ctx, `SELECT `+msgCols+` FROM messages
		WHERE idem_scope = $1 AND idem_key = $2 AND idem_key <> ''`, n.IdempotencyScope, n.IdempotencyKey))
	if err != nil {
		return nil, false, s.wrap(err, "load message for idempotency key")
	}
	return old, true, nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Get reads the message and its history in one repeatable-read snapshot so
// the two agree with each other.
func (s *Store) Get(ctx context.Context, id string) (*store.Message, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var m *store.Message
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		m, err = scanMessage(tx.QueryRow(ctx, `SELECT `+msgCols+` FROM messages WHERE id = $1`, id))
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+attCols+` FROM attempts WHERE message_id = $1 ORDER BY seq`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		m.History, err = sqlshared.Collect(rows, scanAttempt)
		return err
	})
	if isNoRows(err) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, s.wrap(err, "get message %s", id)
	}
	return m, nil
}

// List pages newest first on id; UUIDv7 ids sort by creation time, so
// "id < cursor" is a stable keyset cursor that never skips or repeats rows
// inserted meanwhile.
func (s *Store) List(ctx context.Context, p store.ListParams) (store.ListResult, error) {
	if err := s.check(); err != nil {
		return store.ListResult{}, err
	}
	limit, after, err := store.ListPage(p)
	if err != nil {
		return store.ListResult{}, err
	}
	q, args := listQuery(p, after, limit+1) // one extra row says whether there is a next page
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return store.ListResult{}, s.wrap(err, "list messages")
	}
	defer rows.Close()
	ms, err := sqlshared.Collect(rows, scanOneMessage)
	if err != nil {
		return store.ListResult{}, s.wrap(err, "list messages")
	}
	return store.PageOf(ms, limit), nil
}

func listQuery(p store.ListParams, after string, limit int) (string, []any) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if after != "" {
		where = append(where, "id < "+arg(after))
	}
	// Accept-time bounds are id bounds (UUIDv7): a range on the primary key
	// and on every (x, id) index.
	if !p.Until.IsZero() {
		where = append(where, "id < "+arg(store.IDFloor(p.Until)))
	}
	if !p.Since.IsZero() {
		where = append(where, "id >= "+arg(store.IDFloor(p.Since)))
	}
	if p.Tag != "" {
		// Containment, so the GIN index on tags can answer it.
		where = append(where, "tags @> ARRAY["+arg(p.Tag)+"::text]")
	}
	if p.To != "" {
		// Each term matches one partial index: a BitmapOr of four lookups.
		a := arg(p.To)
		where = append(where, "(to_phone = "+a+" OR to_whatsapp = "+a+" OR to_email = "+a+" OR to_telegram = "+a+")")
	}
	switch p.Status {
	case "":
	case store.StatusFailed, store.StatusExpired:
		// bad (migration 0012) is what messages_bad's predicate names.
		where = append(where, "bad AND status = '"+string(p.Status)+"'")
	case store.StatusScheduled:
		// Not stored: queued with no attempt and a due time ahead
		// (store.Message.Scheduled); queued leaves those out.
		where = append(where, "status = 'queued' AND attempts = 0 AND next_at > "+arg(listNow(p)))
	case store.StatusQueued:
		if p.Now.IsZero() {
			where = append(where, "status = "+arg(string(p.Status)))
			break
		}
		where = append(where, "status = 'queued' AND (attempts > 0 OR next_at IS NULL OR next_at <= "+arg(listNow(p))+")")
	default:
		where = append(where, "status = "+arg(string(p.Status)))
	}
	if p.Channel != "" {
		where = append(where, "channel = "+arg(p.Channel))
	}
	if p.Policy != "" {
		where = append(where, "policy = "+arg(p.Policy))
	}
	q := `SELECT ` + msgCols + ` FROM messages`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT " + arg(limit)
	return q, args
}

// statsSQL: pending is message_queue's size (migration 0012: a row per
// message not final) less the delivered messages waiting for a read
// (read_wait, migration 0013), which are final; due is what Claim would
// take, found as Claim finds it (without the limit), and like pending
// leaves those out, as store/sqlite's does.
var statsSQL = `SELECT
	(SELECT count(*) FROM message_queue WHERE NOT read_wait),
	count(*), min(next_at)
	FROM messages
	WHERE id = ANY(ARRAY(SELECT id FROM message_queue WHERE next_at <= $1))
	  AND next_at <= $1 AND status IN ` + notFinal + `
	  AND (lease_owner = '' OR lease_until < $1)`

// Stats counts pending and due work. Due counts what Claim would take now.
func (s *Store) Stats(ctx context.Context, now time.Time) (store.QueueStats, error) {
	if err := s.check(); err != nil {
		return store.QueueStats{}, err
	}
	if now.IsZero() {
		now = time.Now()
	}
	var (
		st      store.QueueStats
		pending int64
		due     int64
		oldest  pgtype.Timestamptz
	)
	if err := s.pool.QueryRow(ctx, statsSQL, now).Scan(&pending, &due, &oldest); err != nil {
		return store.QueueStats{}, s.wrap(err, "queue stats")
	}
	st.Pending, st.Due, st.OldestDue = int(pending), int(due), fromTS(oldest)
	return st, nil
}

// listNow is the time that tells scheduled from queued in a List.
func listNow(p store.ListParams) time.Time {
	if p.Now.IsZero() {
		return time.Now()
	}
	return micro(p.Now)
}
