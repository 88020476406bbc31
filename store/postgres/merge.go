package postgres

import (
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

// A worker cycle's common writes, one statement for the whole batch.
//
// Most calls of a batch write the same statement with their own values: an
// Advance with one attempt (advanceWithAttemptSQL), a receipt that changes
// its message (receiptBothSQL). On the server each statement pays the
// executor's start-up, the plan cache's revalidation and its own trigger
// and CTE set-up, and the pgx client encodes and reads each one; the rows
// themselves are the smaller part. So txnBatch hands a call's statement to
// a merger when it is the call's first write, and the merger sends the
// rows of every such call as one statement over unnest'ed arrays, before
// the batch's other writes.
//
// Why the order holds: each message is locked by one call of a batch
// (txnBatch defers a second), so the merged rows are distinct messages and
// attempts, already locked by the batch's reads; a call's merged statement
// was its first write, so its own writes still follow it; and what moves
// ahead of other calls' writes touches only its own message's rows
// (messages, attempts, and message_queue through the trigger), which no
// other call of the batch writes. A statement the server refuses fails the
// batch, which then runs every call on its own, as before.

// noSeqScanSQL runs after a batch's BEGIN. A merged statement finds its
// rows by joining its arrays to messages and attempts, and the planner's
// choice of join depends on the tables' statistics: on a table autovacuum
// has not analyzed yet (a young database, or one that grew fast since) it
// chose a sequential scan of attempts for every batch. A one-row statement
// never had the choice (its WHERE is the primary key). Every statement of
// a batch finds its rows by a key, so none is worse for it; it holds for
// this transaction only.
const noSeqScanSQL = `SET LOCAL enable_seqscan = off`

// colKind is the type of one argument of a mergeable statement.
type colKind uint8

const (
	kText colKind = iota
	kInt
	kBool
	kTime // nil (NULL) or time.Time, as ts gives
)

// mergeSpec is a one-row statement and the same writes for many rows.
type mergeSpec struct {
	single string    // the one-row statement, as calls queue it
	kinds  []colKind // its arguments, in order
	multi  string    // the same writes from one array per argument ($1..$n)
}

// advanceSpec merges advanceWithAttemptSQL: the attempt's 17 values
// (attemptArgs) and the 8 of advanceSet.
var advanceSpec = &mergeSpec{
	single: advanceWithAttemptSQL,
	kinds: []colKind{
		kText, kInt, kInt, kText, kText, kText, kText, kText, kText, kText, kBool, kBool, kTime, kTime, kTime, kTime, kText,
		kText, kText, kInt, kInt, kInt, kText, kTime, kTime,
	},
	multi: `WITH v AS (
		SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::text[], $11::bool[], $12::bool[], $13::timestamptz[], $14::timestamptz[],
			$15::timestamptz[], $16::timestamptz[], $17::text[],
			$18::text[], $19::text[], $20::int[], $21::int[], $22::int[], $23::text[], $24::timestamptz[], $25::timestamptz[])
		AS v (message_id, seq, step, channel, status, provider_id, error_class, error, info, reason, ambiguous, late,
			started_at, ended_at, delivered_at, read_at, sender,
			m_status, m_channel, m_step, m_tries, m_attempts, m_last_error, m_next_at, m_updated_at)),
	attempt AS (
		INSERT INTO attempts (` + sqlshared.AttemptInsertColumns + `)
		SELECT message_id, seq, step, channel, status, provider_id, error_class, error, info, reason, ambiguous, late,
			started_at, ended_at, delivered_at, read_at, sender FROM v
		ON CONFLICT (message_id, seq) DO UPDATE SET` + upsertAttemptSet + `)
	UPDATE messages SET status = v.m_status, channel = v.m_channel, step = v.m_step, tries = v.m_tries,
		attempts = v.m_attempts, last_error = v.m_last_error, next_at = v.m_next_at, updated_at = v.m_updated_at,
		lease_owner = '', lease_until = NULL
	FROM v WHERE messages.id = ANY($1::text[]) AND messages.id = v.message_id`,
}

// receiptSpec merges receiptBothSQL: the attempt's 7 values
// (receiptAttemptUpdateSQL) and the message's 6.
var receiptSpec = &mergeSpec{
	single: receiptBothSQL,
	kinds:  []colKind{kText, kText, kTime, kBool, kText, kInt, kTime, kText, kText, kBool, kText, kTime, kTime},
	multi: `WITH v AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bool[], $5::text[], $6::int[],
			$7::timestamptz[], $8::text[], $9::text[], $10::bool[], $11::text[], $12::timestamptz[], $13::timestamptz[])
		AS v (a_status, a_error, delivered_at, late, message_id, seq, read_at,
			status, channel, duplicate, last_error, next_at, updated_at)),
	attempt AS (
		UPDATE attempts SET status = v.a_status,
			error = CASE WHEN v.a_error <> '' THEN v.a_error ELSE attempts.error END,
			delivered_at = COALESCE(attempts.delivered_at, v.delivered_at), late = attempts.late OR v.late,
			read_at = COALESCE(attempts.read_at, v.read_at)
		FROM v WHERE attempts.message_id = ANY($5::text[]) AND attempts.message_id = v.message_id AND attempts.seq = v.seq)
	UPDATE messages SET status = v.status, channel = v.channel, duplicate = v.duplicate,
		last_error = v.last_error, next_at = v.next_at, updated_at = v.updated_at
	FROM v WHERE messages.id = ANY($5::text[]) AND messages.id = v.message_id`,
}

var mergeSpecs = []*mergeSpec{advanceSpec, receiptSpec}

// merger collects the rows of one batch's mergeable statements.
type merger struct {
	rows    [][][]any // by mergeSpecs index: each row's arguments
	onMerge func(rows int)
}

// take keeps q's row if q is a mergeable statement with the arguments its
// spec expects, and reports whether it did.
func (m *merger) take(q *pgx.QueuedQuery) bool {
	if q.Fn != nil {
		return false // someone reads its result
	}
	for i, sp := range mergeSpecs {
		if q.SQL != sp.single || len(q.Arguments) != len(sp.kinds) || !sp.fits(q.Arguments) {
			continue
		}
		if m.rows == nil {
			m.rows = make([][][]any, len(mergeSpecs))
		}
		m.rows[i] = append(m.rows[i], q.Arguments)
		return true
	}
	return false
}

// queue queues the statements for the rows taken: the one-row statement
// for a lone row (its plan is cached already), else the merged one.
func (m *merger) queue(b *pgx.Batch) {
	for i, rows := range m.rows {
		sp := mergeSpecs[i]
		switch len(rows) {
		case 0:
			continue
		case 1:
			b.Queue(sp.single, rows[0]...)
		default:
			b.Queue(sp.multi, sp.arrays(rows)...)
		}
		if m.onMerge != nil {
			m.onMerge(len(rows))
		}
	}
}

// fits reports whether args have the Go types arrays can put in its
// columns.
func (sp *mergeSpec) fits(args []any) bool {
	for j, k := range sp.kinds {
		var ok bool
		switch v := args[j].(type) {
		case string:
			ok = k == kText
		case int:
			ok = k == kInt && v >= math.MinInt32 && v <= math.MaxInt32
		case int32:
			ok = k == kInt
		case bool:
			ok = k == kBool
		case time.Time, nil:
			ok = k == kTime
		}
		if !ok {
			return false
		}
	}
	return true
}

// arrays turns rows (each fitting sp) into one array per column.
func (sp *mergeSpec) arrays(rows [][]any) []any {
	out := make([]any, len(sp.kinds))
	for j, k := range sp.kinds {
		switch k {
		case kText:
			a := make([]string, len(rows))
			for i, r := range rows {
				a[i] = r[j].(string)
			}
			out[j] = a
		case kInt:
			a := make([]int32, len(rows))
			for i, r := range rows {
				switch v := r[j].(type) {
				case int:
					a[i] = int32(v)
				case int32:
					a[i] = v
				}
			}
			out[j] = a
		case kBool:
			a := make([]bool, len(rows))
			for i, r := range rows {
				a[i] = r[j].(bool)
			}
			out[j] = a
		case kTime:
			a := make([]pgtype.Timestamptz, len(rows))
			for i, r := range rows {
				if t, ok := r[j].(time.Time); ok {
					a[i] = pgtype.Timestamptz{Time: t, Valid: true}
				}
			}
			out[j] = a
		}
	}
	return out
}
