package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchboard-gw/switchboard/store"
)

// Group commit for Advance and RecordReceipt (their txn2 calls), and for
// the Enqueue calls of the same worker cycle (batcher.go). One goroutine
// takes the calls that queued up and runs them in one transaction, in the
// same two round trips one call takes alone:
//
//  1. BEGIN and every call's locking reads, pipelined; each call's read
//     takes its own results;
//  2. each call decides on its state and queues its writes; all the
//     writes, the cycle's enqueues as multi-row INSERT ... RETURNING id
//     (enqueue_batch.go's queueInserts) and COMMIT go out as one pipelined
//     batch.
//
// Each caller is answered after COMMIT returned, so durability is
// unchanged; one COMMIT (one WAL flush, one backend wakeup) serves the
// batch. The enqueues ride in the second round trip, not the first:
// their INSERTs take the idempotency keys' index entries, which a
// concurrent INSERT of the same key waits for, and in the first round
// trip those would be held while the reads wait for row locks and while
// the gateway decides. Kept after the reads, a transaction waits for a row
// lock only before it inserted anything. Before, a cycle committed its enqueues in a
// transaction of their own after this one: two COMMITs and three round
// trips per cycle, where this takes one and two (BENCHMARKS.md, "One
// transaction per worker cycle").
//
// A call decides on the state it read under its row lock, so two calls
// that lock the same message cannot share a batch: the second would decide
// without the first's writes. The locked message's id is known after the
// reads (a receipt finds its message by the provider's id), so a call
// whose message another call of the batch already locked is run alone
// after the batch commits.
//
// Failures: a call whose message is not found (ErrNotFound from its read,
// no write queued) fails alone. Any other error before the COMMIT was sent
// rolls the batch back and runs each call alone (txn2One, and enqueueOne
// for the enqueues), so only the calls that fail on their own fail. An
// error from the write batch does the same if the server refused a
// statement (an Advance's write or an enqueued message: then nothing
// committed); after a lost connection the outcome is unknown and every
// call gets the error, as a single call would.
//
// Deadlocks: the calls whose message is known before the read (Advance)
// lock in id order, as lease renewal does, and may wait; the others
// (receipts, found by the provider's id, so in arrival order) skip a
// message another transaction holds (SKIP LOCKED) and run alone after the
// batch. A batch thus only waits while holding rows of lower ids, and two
// lockers in id order cannot wait for each other in a cycle. Should one
// deadlock anyway, PostgreSQL's detector refuses a statement, which is the
// server-refused case above: that batch runs its calls alone.

// errLocked is a batched read's answer when the row it would lock is held
// by another transaction and was skipped (SKIP LOCKED): the call runs
// alone after the batch, where waiting for the lock holds no other.
var errLocked = errors.New("row held by another transaction")

// maxTxnBatch bounds the calls in one transaction.
const maxTxnBatch = 64

// txnBatchTimeout bounds a worker cycle's work (batcher.go) when the
// database stops answering: callers have deadlines of their own, but a
// batch must not hold a connection forever.
const txnBatchTimeout = 30 * time.Second

type txnOp struct {
	ctx    context.Context
	st     *msgState
	first  func(b *pgx.Batch, inBatch bool)
	read   func(br pgx.BatchResults) error
	decide func(q querier, b *pgx.Batch) error
	done   chan error // buffered: the worker never waits for a caller

	queued   int   // statements first queued
	err      error // this call's own answer (ErrNotFound), no write queued
	deferred bool  // its message is locked by an earlier call or another transaction: run alone after
}

// txnBatched queues op for the next batch and waits for its answer. If ctx
// ends after the call was queued it may still commit; the caller sees
// ctx's error.
func (s *Store) txnBatched(ctx context.Context, op *txnOp) error {
	op.ctx, op.done = ctx, make(chan error, 1)
	select {
	case s.txnc <- op:
	case <-s.ctx.Done():
		return store.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-op.done:
		return err
	case <-s.ctx.Done():
		return store.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// liveTxnOps answers the calls whose caller gave up before their turn
// and returns the others.
func liveTxnOps(batch []*txnOp) []*txnOp {
	live := batch[:0:0]
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.done <- err
			continue
		}
		live = append(live, op)
	}
	return live
}

// runTxnBatch runs live (at least one call) and plain (enqueues without a
// recipient limit, possibly none) in one transaction, answers every call
// and reports whether a message claimable by any instance was stored.
func (s *Store) runTxnBatch(ctx context.Context, live []*txnOp, plain []*enqOp) (kick bool) {
	if len(live) == 1 && len(plain) == 0 {
		op := live[0]
		op.done <- s.txn2One(op.ctx, op.first, op.read, op.decide)
		return false
	}
	// Calls whose message is known before the read (Advance) lock it in id
	// order, as RenewLeases does, so those never deadlock with each other
	// or with a renewal; the others (receipts) follow in arrival order.
	slices.SortStableFunc(live, func(a, b *txnOp) int {
		switch {
		case a.st.id == "" || b.st.id == "":
			return cmp.Compare(boolInt(a.st.id == ""), boolInt(b.st.id == ""))
		default:
			return strings.Compare(a.st.id, b.st.id)
		}
	})
	inserted := make(map[string]bool, len(plain))
	committed, err := s.txnBatch(ctx, live, plain, inserted)
	switch {
	case err == nil:
		for _, op := range live {
			if !op.deferred {
				op.done <- op.err
			}
		}
		if len(plain) > 0 {
			kick = s.answerBatch(ctx, plain, s.insertedResults(ctx, plain, inserted), nil)
		}
		for _, op := range live {
			if op.deferred {
				op.done <- s.txn2One(op.ctx, op.first, op.read, op.decide)
			}
		}
	case !committed || serverRefused(err):
		// Rolled back: each call again on its own.
		s.enqueueAlone(ctx, plain, err)
		for _, op := range live {
			op.done <- s.txn2One(op.ctx, op.first, op.read, op.decide)
		}
	default:
		// The connection went after COMMIT was sent: it may have
		// committed, and running a call again could apply it twice.
		s.failEnqueues(plain, err)
		for _, op := range live {
			op.done <- err
		}
	}
	return kick
}

// txnBatch runs ops and plain's INSERTs in one transaction, putting the
// ids inserted in inserted. committed reports whether the COMMIT was sent
// (an error after it leaves the outcome unknown unless the server refused
// a statement).
func (s *Store) txnBatch(ctx context.Context, ops []*txnOp, plain []*enqOp, inserted map[string]bool) (committed bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Release()
	open := false
	defer func() {
		if !open {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, rerr := conn.Exec(rctx, "ROLLBACK"); rerr != nil {
			_ = conn.Conn().Close(rctx)
		}
	}()

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(noSeqScanSQL)
	for _, op := range ops {
		op.err, op.deferred = nil, false
		n := b.Len()
		op.first(b, true)
		op.queued = b.Len() - n
	}
	open = true
	br := conn.SendBatch(ctx, b)
	if err := readAll(br, ops); err != nil {
		_ = br.Close()
		return false, err
	}
	if err := br.Close(); err != nil {
		return false, err
	}

	var (
		rest   []*pgx.QueuedQuery
		merged = merger{onMerge: s.onMerge} // the calls' common first writes, one statement each (merge.go)
	)
	locked := make(map[string]bool, len(ops))
	for _, op := range ops {
		if op.err != nil || op.deferred {
			continue
		}
		if locked[op.st.id] {
			op.deferred = true
			continue
		}
		locked[op.st.id] = true
		ob := &pgx.Batch{}
		if err := op.decide(conn, ob); err != nil {
			return false, err
		}
		qs := ob.QueuedQueries
		if len(qs) > 0 && merged.take(qs[0]) {
			qs = qs[1:]
		}
		rest = append(rest, qs...)
	}
	w := &pgx.Batch{}
	merged.queue(w)
	w.QueuedQueries = append(w.QueuedQueries, rest...)
	writes := w.Len()
	chunks := queueInserts(w, plain)
	w.Queue("COMMIT")
	err = func() error {
		wr := conn.SendBatch(ctx, w)
		defer wr.Close()
		for range writes {
			if _, err := wr.Exec(); err != nil {
				return err
			}
		}
		if err := readInserted(wr, chunks, inserted); err != nil {
			return err
		}
		if _, err := wr.Exec(); err != nil { // COMMIT
			return err
		}
		return wr.Close()
	}()
	if err != nil {
		// A refused statement skips the rest of the batch, COMMIT
		// included: the deferred ROLLBACK ends the transaction.
		return true, err
	}
	open = false
	return true, nil
}

// readAll hands each op its results. An op whose message is not found
// keeps ErrNotFound as its answer; any other error fails the batch.
func readAll(br pgx.BatchResults, ops []*txnOp) error {
	if _, err := br.Exec(); err != nil { // BEGIN
		return err
	}
	if _, err := br.Exec(); err != nil { // noSeqScanSQL
		return err
	}
	for _, op := range ops {
		cr := &countedResults{BatchResults: br}
		rerr := op.read(cr)
		for cr.used < op.queued {
			// Results the read left unread (it stopped at "not found").
			if _, err := cr.Exec(); err != nil {
				return err
			}
		}
		if cr.used > op.queued {
			return fmt.Errorf("txn batch: read took %d results of %d", cr.used, op.queued)
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, errLocked):
			op.deferred = true
		case errors.Is(rerr, store.ErrNotFound):
			op.err = rerr
		default:
			return rerr
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// countedResults counts the results a read takes.
type countedResults struct {
	pgx.BatchResults
	used int
}

func (c *countedResults) Exec() (pgconn.CommandTag, error) {
	c.used++
	return c.BatchResults.Exec()
}

func (c *countedResults) Query() (pgx.Rows, error) {
	c.used++
	return c.BatchResults.Query()
}

func (c *countedResults) QueryRow() pgx.Row {
	c.used++
	return c.BatchResults.QueryRow()
}
