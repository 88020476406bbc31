package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

// Enqueue stores a new message, pre-claimed when m carries a lease.
// Everything but the SQL runs on the caller's goroutine so the single writer
// spends its time in SQLite only.
func (s *Store) Enqueue(ctx context.Context, m *store.Message) (*store.Message, bool, error) {
	n, err := store.ToEnqueue(m, utc)
	if err != nil {
		return nil, false, err
	}
	route, err := json.Marshal(sqlshared.OrEmpty(n.Route))
	if err != nil {
		return nil, false, fmt.Errorf("encode route: %w", err)
	}
	tags, err := json.Marshal(sqlshared.OrEmpty(n.Tags))
	if err != nil {
		return nil, false, fmt.Errorf("encode tags: %w", err)
	}
	meta := []byte("{}")
	if n.Metadata != nil {
		if meta, err = json.Marshal(n.Metadata); err != nil {
			return nil, false, fmt.Errorf("encode metadata: %w", err)
		}
	}
	args := []any{n.ID, n.IdempotencyScope, n.IdempotencyKey, n.RequestHash, n.Policy, string(route),
		nullIfEmpty(n.To.Phone), nullIfEmpty(n.To.WhatsApp), nullIfEmpty(n.To.Email), nullIfEmpty(n.To.Telegram),
		n.Body, n.Subject, string(tags), string(meta), n.CallbackURL,
		string(n.Status), n.CreatedAt.UnixNano(), n.UpdatedAt.UnixNano(), nanos(n.ExpiresAt), n.NextAt.UnixNano(),
		n.LeaseOwner, nanos(n.LeaseUntil), n.HTML}

	var keys []string
	if m.Limit != nil {
		keys = store.RecipientKeys(n.To)
	}

	v, err := s.doInsert(ctx, n.ID, func(w *writer) (any, error) {
		if m.Limit != nil {
			// Checked and recorded inside the single writer's transaction:
			// no other write runs between the count and the insert, so two
			// concurrent sends cannot both take a recipient's last slot.
			if old, err := w.checkRecipientLimit(n, keys, m.Limit); old != nil || err != nil {
				return old, err
			}
		}
		// ON CONFLICT DO NOTHING then SELECT: the insert itself decides which
		// of two racing requests with one key wins, never a prior read.
		res, err := w.st.insertMessage.Exec(args...)
		if err != nil {
			return nil, fmt.Errorf("insert message: %w", err)
		}
		if rows, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("insert message: %w", err)
		} else if rows == 1 {
			for _, tag := range n.Tags {
				if _, err := w.st.insertTag.Exec(tag, n.ID); err != nil {
					return nil, fmt.Errorf("index tag of %s: %w", n.ID, err)
				}
			}
			for _, k := range keys {
				if _, err := w.st.insertRecipient.Exec(n.Policy, k, n.ID); err != nil {
					return nil, fmt.Errorf("record recipient of %s: %w", n.ID, err)
				}
			}
			return nil, nil
		}
		old, err := scanMessage(w.st.messageByIdem.QueryRow(n.IdempotencyScope, n.IdempotencyKey))
		if err != nil {
			return nil, fmt.Errorf("load message for idempotency key: %w", err)
		}
		return old, nil
	})
	if err != nil {
		return nil, false, err
	}
	if old, ok := v.(*store.Message); ok && old != nil {
		return old, true, nil
	}
	return n, false, nil
}

// Get reads the message and its history in one read transaction so the two
// agree with each other.
func (s *Store) Get(ctx context.Context, id string) (*store.Message, error) {
	if s.isClosed.Load() {
		return nil, store.ErrClosed
	}
	tx, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	m, err := scanMessage(tx.QueryRowContext(ctx, `SELECT `+msgCols+` FROM messages WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get message: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+attCols+` FROM attempts WHERE message_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("get attempts: %w", err)
	}
	defer rows.Close()
	if m.History, err = sqlshared.Collect(rows, scanAttempt); err != nil {
		return nil, fmt.Errorf("get attempts: %w", err)
	}
	return m, nil
}

const (
	// defaultListScan: a page of a search no index serves looks at the
	// newest 20,000 messages in its bounds at most (about 20 ms), then
	// hands back a cursor to look further.
	defaultListScan = 20000
)

// List pages newest first on id; UUIDv7 ids sort by creation time, so
// "id < cursor" is a stable keyset cursor that never skips or repeats rows
// inserted meanwhile.
func (s *Store) List(ctx context.Context, p store.ListParams) (store.ListResult, error) {
	if s.isClosed.Load() {
		return store.ListResult{}, store.ErrClosed
	}
	limit, after, err := store.ListPage(p)
	if err != nil {
		return store.ListResult{}, err
	}
	q, args := listQuery(p, after, limit+1) // one extra row says whether there is a next page
	var edgeQ string
	var edgeArgs []any
	capped := s.listScan > 0 && scansPrimaryKey(p)
	if capped {
		q, args, edgeQ, edgeArgs = cappedListQuery(p, after, limit+1, s.listScan)
	}
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return store.ListResult{}, fmt.Errorf("list messages: %w", err)
	}
	defer rows.Close()
	ms, err := sqlshared.Collect(rows, scanOneMessage)
	if err != nil {
		return store.ListResult{}, fmt.Errorf("list messages: %w", err)
	}
	res := store.PageOf(ms, limit)
	if res.NextCursor == "" && capped {
		// Fewer matches than a page: if the stretch looked at was full,
		// older messages were not looked at yet; the next page starts
		// below the stretch.
		var (
			n      int
			oldest sql.NullString
		)
		if err := s.read.QueryRowContext(ctx, edgeQ, edgeArgs...).Scan(&n, &oldest); err != nil {
			return store.ListResult{}, fmt.Errorf("list messages: %w", err)
		}
		if n >= s.listScan && oldest.Valid {
			res.NextCursor = store.Cursor(oldest.String)
		}
	}
	return res, nil
}

// listQuery is List's query: messages matching p older than the id after
// (if any), newest first.
//
// The driving index is the most selective filter's: a recipient (one
// person's messages) over a tag, a tag over a rare final status, and the
// primary key newest first otherwise. Time bounds and the cursor are id
// bounds, which every (x, id) index and the primary key take as a range.
func listQuery(p store.ListParams, after string, limit int) (string, []any) {
	// With a tag and no recipient, message_tags drives: its primary key
	// (tag, message_id) walked backwards is that tag's messages newest
	// first, and the id bounds go on its message_id so they are a range.
	byTag := p.Tag != "" && p.To == ""
	var (
		where []string
		args  []any
	)
	idCol := "id"
	if byTag {
		idCol = "t.message_id"
		where = append(where, "t.tag = ?")
		args = append(args, p.Tag)
	}
	bw, ba := idBounds(idCol, p, after)
	fw, fa := rowFilters(p, byTag)
	where, args = append(append(where, bw...), fw...), append(append(args, ba...), fa...)
	q := `SELECT ` + msgCols + ` FROM messages`
	order := " ORDER BY id DESC LIMIT ?"
	if byTag {
		// CROSS JOIN keeps message_tags the outer loop; each of its rows
		// finds its message by primary key.
		q = `SELECT ` + msgCols + ` FROM message_tags AS t CROSS JOIN messages ON messages.id = t.message_id`
		order = " ORDER BY t.message_id DESC LIMIT ?"
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += order
	return q, append(args, limit)
}

// scansPrimaryKey reports whether p's query walks the primary key checking
// each row against a filter that no index serves (a status other than
// failed or expired, a channel, a policy): a value that matches little
// makes that walk long.
func scansPrimaryKey(p store.ListParams) bool {
	if p.To != "" || p.Tag != "" || p.Status == store.StatusFailed || p.Status == store.StatusExpired {
		return false
	}
	return p.Status != "" || p.Channel != "" || p.Policy != ""
}

// cappedListQuery is listQuery for a primary key walk (scansPrimaryKey)
// that looks at no more than scanCap rows: the matches among the newest
// scanCap messages in the id bounds. The stretch is a co-routine walked
// newest first and checked row by row, so a page that fills early stops
// early; only matches are looked up again for their columns. edgeQ counts
// the rows of the stretch and finds its oldest id, where the next page
// resumes when the stretch was full.
func cappedListQuery(p store.ListParams, after string, limit, scanCap int) (q string, args []any, edgeQ string, edgeArgs []any) {
	bw, ba := idBounds("id", p, after)
	stretch := `SELECT id AS s_id, status AS s_status, channel AS s_channel, policy AS s_policy,
		attempts AS s_attempts, next_at AS s_next_at FROM messages`
	if len(bw) > 0 {
		stretch += " WHERE " + strings.Join(bw, " AND ")
	}
	stretch += " ORDER BY id DESC LIMIT ?"
	var (
		fw []string
		fa []any
	)
	if p.Status != "" {
		w, a := statusCond("st.s_", p)
		fw, fa = append(fw, w), append(fa, a...)
	}
	if p.Channel != "" {
		fw, fa = append(fw, "st.s_channel = ?"), append(fa, p.Channel)
	}
	if p.Policy != "" {
		fw, fa = append(fw, "st.s_policy = ?"), append(fa, p.Policy)
	}
	q = `SELECT ` + msgCols + ` FROM (` + stretch + `) AS st CROSS JOIN messages ON messages.id = st.s_id WHERE ` +
		strings.Join(fw, " AND ") + ` ORDER BY st.s_id DESC LIMIT ?`
	args = append(append(append(append([]any{}, ba...), scanCap), fa...), limit)
	edgeQ = `SELECT COUNT(*), MIN(s_id) FROM (` + stretch + `)`
	edgeArgs = append(append([]any{}, ba...), scanCap)
	return q, args, edgeQ, edgeArgs
}

// idBounds are p's time bounds and the cursor as conditions on idCol.
func idBounds(idCol string, p store.ListParams, after string) (where []string, args []any) {
	if after != "" {
		where = append(where, idCol+" < ?")
		args = append(args, after)
	}
	if !p.Until.IsZero() && (after == "" || store.IDFloor(p.Until) < after) {
		where = append(where, idCol+" < ?")
		args = append(args, store.IDFloor(p.Until))
	}
	if !p.Since.IsZero() {
		where = append(where, idCol+" >= ?")
		args = append(args, store.IDFloor(p.Since))
	}
	return where, args
}

// rowFilters are p's other filters. byTag: the tag is the driving index's
// and not repeated.
func rowFilters(p store.ListParams, byTag bool) (where []string, args []any) {
	if p.To != "" {
		// Each term matches one partial index, so SQLite can use an OR-union
		// of index lookups instead of a scan. A WhatsApp number equal to the
		// phone number is found through the phone index (0012).
		where = append(where, "(to_phone = ? OR (to_whatsapp = ? AND to_whatsapp IS NOT to_phone) OR to_email = ? OR to_telegram = ?)")
		args = append(args, p.To, p.To, p.To, p.To)
	}
	if p.Tag != "" && !byTag {
		// One recipient's messages are few: check each one's tag.
		where = append(where, "EXISTS (SELECT 1 FROM message_tags WHERE tag = ? AND message_id = messages.id)")
		args = append(args, p.Tag)
	}
	switch p.Status {
	case "":
	case store.StatusFailed, store.StatusExpired:
		// A literal, so the planner can match messages_status_bad's
		// predicate.
		where = append(where, "status = '"+string(p.Status)+"'")
	default:
		// No index: the newest-first walk of the primary key finds these
		// soon (most messages are delivered; queued, sending and sent are
		// the newest).
		w, a := statusCond("", p)
		where, args = append(where, w), append(args, a...)
	}
	if p.Channel != "" {
		where = append(where, "channel = ?")
		args = append(args, p.Channel)
	}
	if p.Policy != "" {
		where = append(where, "policy = ?")
		args = append(args, p.Policy)
	}
	return where, args
}

// Every message that is not final is in messages_due (not due ones at
// notDue), so both counts walk that index only.
var statsSQL = `SELECT
	(SELECT COUNT(*) FROM messages INDEXED BY messages_due
		WHERE next_at IS NOT NULL AND status IN ` + notFinal + `),
	COUNT(*), MIN(next_at)
	FROM messages INDEXED BY messages_due
	WHERE next_at IS NOT NULL AND next_at <= ?1 AND status IN ` + notFinal + `
	  AND (lease_owner = '' OR lease_until < ?1)`

// Stats counts pending and due work. Due counts what Claim would take now:
// messages held by a live lease are being worked on, not waiting.
func (s *Store) Stats(ctx context.Context, now time.Time) (store.QueueStats, error) {
	if s.isClosed.Load() {
		return store.QueueStats{}, store.ErrClosed
	}
	if now.IsZero() {
		now = time.Now()
	}
	var (
		st     store.QueueStats
		oldest sql.NullInt64
	)
	err := s.read.QueryRowContext(ctx, statsSQL, now.UnixNano()).Scan(&st.Pending, &st.Due, &oldest)
	if err != nil {
		return store.QueueStats{}, fmt.Errorf("queue stats: %w", err)
	}
	st.OldestDue = fromNanos(oldest)
	return st, nil
}

// statusCond is the condition for p.Status over columns named
// prefix+"status" and so on. Scheduled is not stored: it is queued with no
// attempt and a due time after p.Now (store.Message.Scheduled), and
// queued leaves those out.
func statusCond(prefix string, p store.ListParams) (string, []any) {
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	st, att, next := prefix+"status", prefix+"attempts", prefix+"next_at"
	switch p.Status {
	case store.StatusScheduled:
		return st + " = 'queued' AND " + att + " = 0 AND " + next + " > ?", []any{now.UnixNano()}
	case store.StatusQueued:
		if p.Now.IsZero() {
			break
		}
		return st + " = 'queued' AND (" + att + " > 0 OR " + next + " IS NULL OR " + next + " <= ?)", []any{now.UnixNano()}
	}
	return st + " = ?", []any{string(p.Status)}
}
