package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchboard-gw/switchboard/store"
)

// Group commit for Enqueue, as store/sqlite's writer does it: concurrent
// Enqueue calls hand their message to a channel; a worker (batcher.go)
// takes what has queued up (up to maxEnqueueBatch) and writes it as
// multi-row INSERTs in the cycle's one transaction, beside the cycle's
// Advances and receipts (txn_batch.go) or, in a cycle without those, in a
// one-round-trip transaction of its own (insertPlain), answering each
// caller only after COMMIT returned. Under load a batch holds dozens of messages: one transaction,
// one WAL flush and one round trip instead of one each per message, which
// is where PostgreSQL's per-message CPU went (a backend wakeup, parse,
// plan and commit per row). Durability is unchanged: COMMIT still waits
// for the WAL flush (synchronous_commit on), and no caller hears "stored"
// before it.
//
// Semantics stay Enqueue's, message by message:
//   - idempotency: the unique (idem_scope, idem_key) index decides, through
//     ON CONFLICT DO NOTHING, between two messages with one key in one
//     batch as between two batches or two instances; a message whose row
//     was not inserted is answered with the row that holds its key;
//   - per-recipient limits: the limited messages of a batch run in one
//     transaction of their own that takes every advisory lock they need up
//     front, in key order (so two batches, on one instance or several,
//     cannot deadlock), then counts and inserts them one after the other,
//     each counting the ones before it, exactly as enqueueLimited does.
//
// A batch that fails (one message PostgreSQL refuses fails the whole
// statement, and the cycle's transaction with it) is run again message by
// message on the unbatched path, so only the messages that fail on their
// own fail.

// maxEnqueueBatch bounds a batch: 128 rows of 23 parameters stay far under
// PostgreSQL's 65,535 parameters per statement.
const maxEnqueueBatch = 128

type enqOp struct {
	ctx  context.Context
	n    *store.Message
	args []any
	lim  *store.RecipientLimit
	done chan enqResult // buffered: a worker never waits for a caller
}

type enqResult struct {
	m        *store.Message
	replayed bool
	err      error
}

// enqueueBatched queues n for the next batch and waits for its answer. If
// ctx ends after the message was queued it may still be stored; the caller
// sees ctx's error and a retry with the same Idempotency-Key finds it.
func (s *Store) enqueueBatched(ctx context.Context, n *store.Message, args []any, lim *store.RecipientLimit) (*store.Message, bool, error) {
	o := &enqOp{ctx: ctx, n: n, args: args, lim: lim, done: make(chan enqResult, 1)}
	select {
	case s.enqc <- o:
	case <-s.ctx.Done():
		return nil, false, store.ErrClosed
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	select {
	case r := <-o.done:
		return r.m, r.replayed, r.err
	case <-s.ctx.Done():
		// Closed: the workers are gone, or cancel the batch in flight.
		return nil, false, store.ErrClosed
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// splitEnqueues answers the calls whose caller gave up before their turn
// (storing the message now would store something the caller was told
// failed) and splits the rest into those without a recipient limit, which
// share the cycle's transaction, and the limited ones, which take advisory
// locks and run in a transaction of their own (insertLimited).
func splitEnqueues(batch []*enqOp) (plain, limited []*enqOp) {
	for _, o := range batch {
		if err := o.ctx.Err(); err != nil {
			o.done <- enqResult{err: err}
			continue
		}
		if o.lim != nil {
			limited = append(limited, o)
		} else {
			plain = append(plain, o)
		}
	}
	return plain, limited
}

// answerBatch answers a committed batch, or runs each of its ops alone
// when the batch failed. It reports whether a message claimable by any
// instance was stored.
func (s *Store) answerBatch(ctx context.Context, ops []*enqOp, res []enqResult, err error) (kick bool) {
	if err != nil {
		// Only a statement the server refused is known to have rolled the
		// batch back; after a lost connection the COMMIT may have happened,
		// and running the messages again would store them twice.
		if !serverRefused(err) {
			s.failEnqueues(ops, err)
			return false
		}
		s.enqueueAlone(ctx, ops, err)
		return false // enqueueOne kicked for its own messages
	}
	for i, o := range ops {
		r := res[i]
		if r.err == nil && !r.replayed && o.n.LeaseOwner == "" {
			kick = true
		}
		o.done <- r
	}
	return kick
}

// failEnqueues answers every op with err: their batch's outcome is unknown.
func (s *Store) failEnqueues(ops []*enqOp, err error) {
	for _, o := range ops {
		o.done <- enqResult{err: s.wrap(err, "insert message")}
	}
}

// enqueueAlone runs each op of a batch known to have rolled back (err) in
// a transaction of its own, so only the messages that fail on their own
// fail. A closing store, or a batch whose deadline passed, answers err.
func (s *Store) enqueueAlone(ctx context.Context, ops []*enqOp, err error) {
	if s.closed.Load() || ctx.Err() != nil {
		s.failEnqueues(ops, err)
		return
	}
	for _, o := range ops {
		if cerr := o.ctx.Err(); cerr != nil {
			o.done <- enqResult{err: cerr}
			continue
		}
		m, replayed, err := s.enqueueOne(o.ctx, o.n, o.args, o.lim)
		o.done <- enqResult{m: m, replayed: replayed, err: err}
	}
}

// serverRefused reports whether PostgreSQL answered err to a statement:
// then the transaction it was in is rolled back for sure.
func serverRefused(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe)
}

// insertPlainSQL returns the multi-row INSERT for rows messages, with
// their message_queue rows, returning the ids inserted.
func insertPlainSQL(rows int) string {
	var b strings.Builder
	head, _, _ := strings.Cut(insertMessageSQL, "VALUES")
	b.WriteString(head)
	b.WriteString("VALUES ")
	p := 1
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range insertMessageArgs {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(p))
			p++
		}
		b.WriteByte(')')
	}
	b.WriteString(" ON CONFLICT (idem_scope, idem_key) WHERE idem_key <> '' DO NOTHING")
	return withQueueRows(b.String())
}

// insertMessageArgs is the number of parameters per message row.
const insertMessageArgs = 23

// insertSQLs caches the multi-row statements by row count. Batches are cut
// into power-of-two chunks, so at most 8 statement texts exist and each
// connection prepares each once.
var insertSQLs = func() map[int]string {
	m := map[int]string{}
	for n := 1; n <= maxEnqueueBatch; n *= 2 {
		m[n] = insertPlainSQL(n)
	}
	return m
}()

// insertPlain writes messages without a recipient limit in a cycle that
// has no Advance or receipt to share a transaction with: BEGIN, the
// INSERTs (queueInserts) and COMMIT go out as one pipelined batch, one
// round trip. (A cycle with both runs the INSERTs in the txn batch's write
// round trip: txn_batch.go.)
func (s *Store) insertPlain(ctx context.Context, ops []*enqOp) ([]enqResult, error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	chunks := queueInserts(b, ops)
	b.Queue("COMMIT")

	inserted := make(map[string]bool, len(ops))
	err := func() error {
		br := s.pool.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		if err := readInserted(br, chunks, inserted); err != nil {
			return err
		}
		if _, err := br.Exec(); err != nil {
			return err
		}
		return br.Close()
	}()
	if err != nil {
		// A refused statement skips the rest of the pipeline, COMMIT
		// included: nothing of the batch is stored, and the pool drops
		// the connection, whose transaction is still open.
		return nil, err
	}
	return s.insertedResults(ctx, ops, inserted), nil
}

// queueInserts queues ops' messages as one multi-row INSERT ... RETURNING
// id per power-of-two chunk and returns the chunks' sizes.
func queueInserts(b *pgx.Batch, ops []*enqOp) (chunks []int) {
	for i := 0; i < len(ops); {
		n := 1 << (bits.Len(uint(len(ops)-i)) - 1) // largest power of two that fits
		args := make([]any, 0, n*insertMessageArgs)
		for _, o := range ops[i : i+n] {
			args = append(args, o.args...)
		}
		b.Queue(insertSQLs[n], args...)
		chunks = append(chunks, n)
		i += n
	}
	return chunks
}

// readInserted reads the ids the chunks' INSERTs returned into inserted.
func readInserted(br pgx.BatchResults, chunks []int, inserted map[string]bool) error {
	for range chunks {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			inserted[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// insertedResults answers ops after their INSERTs committed. The rows not
// inserted lost their idempotency key to a message stored before (or
// earlier in this batch); those are read back, as the unbatched Enqueue
// does.
func (s *Store) insertedResults(ctx context.Context, ops []*enqOp, inserted map[string]bool) []enqResult {
	res := make([]enqResult, len(ops))
	for i, o := range ops {
		if inserted[o.n.ID] {
			res[i] = enqResult{m: o.n}
			continue
		}
		old, err := scanMessage(s.pool.QueryRow(ctx, `SELECT `+msgCols+` FROM messages
			WHERE idem_scope = $1 AND idem_key = $2 AND idem_key <> ''`, o.n.IdempotencyScope, o.n.IdempotencyKey))
		if err != nil {
			res[i] = enqResult{err: s.wrap(err, "load message for idempotency key")}
			continue
		}
		res[i] = enqResult{m: old, replayed: true}
	}
	return res
}

// lockRecipientsSQL takes the advisory locks of a batch's (policy,
// recipient) keys in the order of their hash, the lock's real key, so two
// batches that share keys (or keys whose hashes collide) take them in one
// order and cannot deadlock.
const lockRecipientsSQL = `SELECT pg_advisory_xact_lock(h) FROM (
	SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS l`

// insertLimited writes messages with a recipient limit in one transaction:
// every advisory lock the batch needs first, in key order, then each
// message as enqueueLimited handles it, in batch order.
func (s *Store) insertLimited(ctx context.Context, ops []*enqOp) ([]enqResult, error) {
	var locks []string
	for _, o := range ops {
		for _, k := range store.RecipientKeys(o.n.To) {
			locks = append(locks, o.n.Policy+"/"+k)
		}
	}
	slices.Sort(locks)
	locks = slices.Compact(locks)
	res := make([]enqResult, len(ops))
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockRecipientsSQL, locks); err != nil {
			return fmt.Errorf("take recipient locks: %w", err)
		}
		for i, o := range ops {
			old, limited, err := insertLimitedLocked(ctx, tx, o.n, o.args, o.lim)
			switch {
			case err != nil:
				return err
			case limited != nil:
				res[i] = enqResult{err: limited}
			case old != nil:
				res[i] = enqResult{m: old, replayed: true}
			default:
				res[i] = enqResult{m: o.n}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
