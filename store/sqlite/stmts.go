package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

const (
	msgCols = sqlshared.MessageColumns
	attCols = sqlshared.AttemptColumns
)

// notFinal lists the statuses Claim and Stats treat as work left to do.
var notFinal = sqlshared.NotFinal

var claimSQL = `UPDATE messages
			SET prev_lease_owner = lease_owner, lease_owner = ?1, lease_until = ?2
			WHERE id IN (
				-- Without the hint the planner may prefer another index and
				-- sort every pending message to find the oldest due.
				SELECT id FROM messages INDEXED BY messages_due
				WHERE next_at IS NOT NULL AND next_at <= ?3 AND status IN ` + sqlshared.Claimable + `
				  AND (lease_owner = '' OR lease_until < ?3)
				ORDER BY next_at, id LIMIT ?4)
			RETURNING id, prev_lease_owner`

var advanceOwnedSQL = `UPDATE messages SET
			status = CASE WHEN ?1 >= ` + sqlshared.StatusRank("status") + ` OR (?12 AND ?2 <> '') THEN ?2 ELSE status END,
			channel = ?3, step = ?4, tries = ?5, attempts = MAX(attempts, ?6), last_error = ?7,
			next_at = ?8, updated_at = ?9, lease_owner = '', lease_until = NULL
			WHERE id = ?10 AND lease_owner = ?11 AND (status IN ` + notFinal + ` OR (?12 AND status = 'delivered'))
			RETURNING ` + cbStateCols

// advanceNoCallbackSQL is advanceOwnedSQL for a message without a
// callback URL, the common case: nothing is read back, since the RETURNING
// row only decides on a callback (queueAdvanceCallback returns at once for
// an empty URL). RETURNING costs the UPDATE an ephemeral table and the
// caller a query's worth of scanning; a plain UPDATE and its row count is
// about a third cheaper. Zero rows changed (a callback URL, or any reason
// advanceOwnedSQL would change nothing, or a read_timeout's move-on, ?12)
// sends Advance on to advanceOwnedSQL.
var advanceNoCallbackSQL = `UPDATE messages SET
			status = CASE WHEN ?1 >= ` + sqlshared.StatusRank("status") + ` THEN ?2 ELSE status END,
			channel = ?3, step = ?4, tries = ?5, attempts = MAX(attempts, ?6), last_error = ?7,
			next_at = ?8, updated_at = ?9, lease_owner = '', lease_until = NULL
			WHERE id = ?10 AND lease_owner = ?11 AND status IN ` + notFinal + ` AND callback_url = '' AND NOT ?12`

// upsertAttemptSet is what an upsert of an attempt already recorded
// changes; its cost is kept (a receipt's reported price replaces it).
var upsertAttemptSet = `
				reason = excluded.reason,
				ended_at = excluded.ended_at,
				error = excluded.error,
				error_class = excluded.error_class,
				ambiguous = excluded.ambiguous,
				status = CASE WHEN ` + sqlshared.AttemptRank("excluded.status") + ` > ` + sqlshared.AttemptRank("attempts.status") + `
					THEN excluded.status ELSE attempts.status END`

var releaseSQL = `UPDATE messages SET lease_owner = '', lease_until = NULL
			WHERE id IN (SELECT id FROM messages INDEXED BY messages_due
				WHERE next_at IS NOT NULL AND lease_owner = ?1 AND lease_owner <> '')`

var receiptStateSQL = `SELECT a.message_id, a.seq, a.status,
				m.status, m.policy, m.channel, m.attempts, m.duplicate, m.last_error, m.next_at,
				m.callback_url, m.callback_status, m.idem_scope, m.route
			FROM attempts AS a INDEXED BY attempts_provider JOIN messages AS m ON m.id = a.message_id
			WHERE a.channel = ?1 AND a.provider_id = ?2 AND a.provider_id <> ''
			ORDER BY a.message_id DESC, a.seq DESC LIMIT 1`

// stmts are prepared once on the write connection; the writer runs them
// thousands of times a second.
type stmts struct {
	list []*sql.Stmt

	begin, rollback, commit *sql.Stmt

	insertMessage, messageByIdem   *sql.Stmt
	insertTag, deleteTag           *sql.Stmt
	countRecipient, nthRecipient   *sql.Stmt
	insertRecipient                *sql.Stmt
	claim, currentAttempt          *sql.Stmt
	advanceOwned, advanceState     *sql.Stmt
	advanceNoCallback              *sql.Stmt
	upsertAttempt, advanceFinal    *sql.Stmt
	upsertAttemptCost, addSpend    *sql.Stmt
	attemptCost, setAttemptCost    *sql.Stmt
	releaseLeases                  *sql.Stmt
	receiptState                   *sql.Stmt
	receiptAttempt, receiptMessage *sql.Stmt
	insertCallback, callbackStatus *sql.Stmt
	claimCallbacks, finishCallback *sql.Stmt
	deferCallback                  *sql.Stmt
}

func (s *stmts) prepare(ctx context.Context, conn *sql.Conn) error {
	for _, p := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&s.begin, "BEGIN IMMEDIATE"},
		{&s.rollback, "ROLLBACK"},
		{&s.commit, "COMMIT"},

		{&s.insertMessage, `INSERT INTO messages (id, idem_scope, idem_key, request_hash, policy, route,
			to_phone, to_whatsapp, to_email, to_telegram, body, subject, tags, metadata, callback_url,
			status, created_at, updated_at, expires_at, next_at, lease_owner, lease_until, html)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (idem_scope, idem_key) WHERE idem_key <> '' DO NOTHING`},
		{&s.insertTag, `INSERT OR IGNORE INTO message_tags (tag, message_id) VALUES (?, ?)`},
		{&s.deleteTag, `DELETE FROM message_tags WHERE tag = ? AND message_id = ?`},
		{&s.messageByIdem, `SELECT ` + msgCols + ` FROM messages
			WHERE idem_scope = ? AND idem_key = ? AND idem_key <> ''`},
		// Per-recipient limits (recipients.go).
		{&s.countRecipient, countRecipientSQL},
		{&s.nthRecipient, nthRecipientSQL},
		{&s.insertRecipient, `INSERT OR IGNORE INTO recipient_sends (policy, recipient, message_id) VALUES (?, ?, ?)`},

		{&s.claim, claimSQL},
		{&s.currentAttempt, `SELECT ` + attCols + ` FROM attempts WHERE message_id = ? AND seq = ?`},

		// The common Advance: the caller holds the lease and the message is
		// not final. One statement decides and writes; zero rows changed
		// sends Advance down the slow path (advanceState).
		{&s.advanceNoCallback, advanceNoCallbackSQL},
		{&s.advanceOwned, advanceOwnedSQL},
		{&s.advanceState, `SELECT status, lease_owner, attempts FROM messages WHERE id = ?`},
		{&s.upsertAttempt, `INSERT INTO attempts (` + sqlshared.AttemptInsertColumns + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (message_id, seq) DO UPDATE SET` + upsertAttemptSet},
		// Costs (cost.go): only attempts and receipts that carry one.
		{&s.upsertAttemptCost, `INSERT INTO attempts (` + attCols + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (message_id, seq) DO UPDATE SET` + upsertAttemptSet},
		{&s.addSpend, addSpendSQL},
		{&s.attemptCost, attemptCostSQL},
		{&s.setAttemptCost, setAttemptCostSQL},
		// Used when the message fields are not the caller's to change: only
		// keep the attempt count in step with the rows and drop an owned lease.
		{&s.advanceFinal, `UPDATE messages SET attempts = MAX(attempts, ?2),
			lease_owner = CASE WHEN lease_owner = ?3 THEN '' ELSE lease_owner END,
			lease_until = CASE WHEN lease_owner = ?3 THEN NULL ELSE lease_until END
			WHERE id = ?1`},
		// Every row that can be leased and still matters is in messages_due
		// (see 0001_init.sql), so the walk is bounded by the pending messages.
		{&s.releaseLeases, releaseSQL},

		// The attempt a receipt is for and its message's state, in one read.
		{&s.receiptState, receiptStateSQL},
		{&s.receiptAttempt, `UPDATE attempts SET status = ?1, error = CASE WHEN ?2 <> '' THEN ?2 ELSE error END,
			delivered_at = COALESCE(delivered_at, ?3), late = late OR ?4,
			read_at = COALESCE(read_at, ?7)
			WHERE message_id = ?5 AND seq = ?6`},
		{&s.receiptMessage, `UPDATE messages SET status = ?, channel = ?, duplicate = ?, last_error = ?,
			next_at = ?, updated_at = ? WHERE id = ?`},

		// Status callbacks (callbacks.go).
		{&s.insertCallback, insertCallbackSQL},
		{&s.callbackStatus, `UPDATE messages SET callback_status = ?2 WHERE id = ?1`},
		{&s.claimCallbacks, claimCallbacksSQL},
		{&s.finishCallback, finishCallbackSQL},
		{&s.deferCallback, deferCallbackSQL},
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
