package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/switchboard-gw/switchboard/store"
)

const msgCols = `id, idem_scope, idem_key, request_hash, policy, route,
	to_phone, to_whatsapp, to_email, to_telegram, body, subject, tags, metadata, callback_url,
	status, channel, step, tries, attempts, duplicate, last_error,
	created_at, updated_at, expires_at, next_at, lease_owner, lease_until`

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

// attemptRankSQL is store.AttemptStatus.Rank as an SQL expression over col,
// so the attempt upsert can compare ranks in the same statement.
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

// stmts are prepared once on the write connection; the writer runs them
// thousands of times a second.
type stmts struct {
	list []*sql.Stmt

	begin, savepoint, rollbackTo, release, commit *sql.Stmt

	insertMessage, messageByIdem, messageByID *sql.Stmt
	claim, currentAttempt                     *sql.Stmt
	advanceState, upsertAttempt               *sql.Stmt
	advanceMessage, advanceFinal              *sql.Stmt
	releaseLeases                             *sql.Stmt
	attemptByProvider, receiptState           *sql.Stmt
	receiptAttempt, receiptMessage            *sql.Stmt
}

func (s *stmts) prepare(ctx context.Context, conn *sql.Conn) error {
	for _, p := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&s.begin, "BEGIN IMMEDIATE"},
		{&s.savepoint, "SAVEPOINT op"},
		{&s.rollbackTo, "ROLLBACK TO op"},
		{&s.release, "RELEASE op"},
		{&s.commit, "COMMIT"},

		{&s.insertMessage, `INSERT INTO messages (id, idem_scope, idem_key, request_hash, policy, route,
			to_phone, to_whatsapp, to_email, to_telegram, body, subject, tags, metadata, callback_url,
			status, created_at, updated_at, expires_at, next_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (idem_scope, idem_key) WHERE idem_key <> '' DO NOTHING`},
		{&s.messageByIdem, `SELECT ` + msgCols + ` FROM messages
			WHERE idem_scope = ? AND idem_key = ? AND idem_key <> ''`},
		{&s.messageByID, `SELECT ` + msgCols + ` FROM messages WHERE id = ?`},

		{&s.claim, `UPDATE messages
			SET prev_lease_owner = lease_owner, lease_owner = ?1, lease_until = ?2
			WHERE id IN (
				-- Without the hint the planner prefers messages_status and
				-- sorts every pending message to find the oldest due.
				SELECT id FROM messages INDEXED BY messages_due
				WHERE next_at IS NOT NULL AND next_at <= ?3 AND status IN ` + notFinal + `
				  AND (lease_owner = '' OR lease_until < ?3)
				ORDER BY next_at, id LIMIT ?4)
			RETURNING ` + msgCols + `, prev_lease_owner`},
		{&s.currentAttempt, `SELECT ` + attCols + ` FROM attempts WHERE message_id = ? AND seq = ?`},

		{&s.advanceState, `SELECT status, lease_owner, attempts FROM messages WHERE id = ?`},
		{&s.upsertAttempt, `INSERT INTO attempts (` + attCols + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (message_id, seq) DO UPDATE SET
				reason = excluded.reason,
				ended_at = excluded.ended_at,
				error = excluded.error,
				error_class = excluded.error_class,
				ambiguous = excluded.ambiguous,
				status = CASE WHEN ` + attemptRankSQL("excluded.status") + ` > ` + attemptRankSQL("attempts.status") + `
					THEN excluded.status ELSE attempts.status END`},
		{&s.advanceMessage, `UPDATE messages SET status = ?, channel = ?, step = ?, tries = ?, attempts = ?,
			last_error = ?, next_at = ?, updated_at = ?, lease_owner = '', lease_until = NULL
			WHERE id = ?`},
		// Used when the message fields are not the caller's to change: only
		// keep the attempt count in step with the rows and drop an owned lease.
		{&s.advanceFinal, `UPDATE messages SET attempts = MAX(attempts, ?2),
			lease_owner = CASE WHEN lease_owner = ?3 THEN '' ELSE lease_owner END,
			lease_until = CASE WHEN lease_owner = ?3 THEN NULL ELSE lease_until END
			WHERE id = ?1`},
		{&s.releaseLeases, `UPDATE messages SET lease_owner = '', lease_until = NULL
			WHERE lease_owner = ? AND lease_owner <> ''`},

		{&s.attemptByProvider, `SELECT ` + attCols + ` FROM attempts
			WHERE channel = ? AND provider_id = ? AND provider_id <> '' ORDER BY seq DESC LIMIT 1`},
		{&s.receiptState, `SELECT status, channel, attempts, duplicate, last_error, next_at
			FROM messages WHERE id = ?`},
		{&s.receiptAttempt, `UPDATE attempts SET status = ?1, error = CASE WHEN ?2 <> '' THEN ?2 ELSE error END,
			delivered_at = COALESCE(delivered_at, ?3), late = late OR ?4
			WHERE message_id = ?5 AND seq = ?6`},
		{&s.receiptMessage, `UPDATE messages SET status = ?, channel = ?, duplicate = ?, last_error = ?,
			next_at = ?, updated_at = ? WHERE id = ?`},
	} {
		st, err := conn.PrepareContext(ctx, p.query)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", firstLine(p.query), err)
		}
		*p.dst = st
		s.list = append(s.list, st)
	}
	return nil
}

func (s *stmts) close() {
	for _, st := range s.list {
		_ = st.Close()
	}
	s.list = nil
}

func firstLine(q string) string {
	q, _, _ = strings.Cut(strings.TrimSpace(q), "\n")
	return q
}
