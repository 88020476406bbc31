package postgres

import (
	"context"

	"github.com/switchboard-gw/switchboard/store"
)

// batchWorkers run group commits side by side: while one batch waits for
// its COMMIT's WAL flush, the next is read and written.
//
// Each worker serves both queues, enqueues (enqueue_batch.go) and the
// dispatcher's and receipts' read-decide-write calls (txn_batch.go), as
// store/sqlite's single writer does: acceptance then shares the database
// with dispatch instead of outrunning it. With a lane of its own, ingest
// accepted messages faster than dispatch could record their sends and
// receipts; the backlog overflowed the dispatcher's hand-off queue, and
// Claim, walking ever more leased rows, became the largest cost.
//
// Two workers, not six: fewer batches in flight make each one larger (a
// commit per 5 messages instead of per 2.5 on one instance, per 2 instead
// of per 1 on three, which split the load), and the ingest bench's backlog
// stayed under 120 where six let it reach 1,700-3,600 in 10 s: with each
// cycle taking both queues, acceptance waits for dispatch's writes.
// (BENCHMARKS.md, "PostgreSQL group commit".)
//
// Two, not one: with one worker per instance three instances accept more
// (their six workers make batches a third the size, one commit per 3
// messages against one per 9 on one instance), but one instance accepted
// 8-60% less, the database idling while the gateway decides. A
// second worker that waits for the first's cycle unless 16 or 32 calls
// queued sat in between and did not pay on one instance ("One transaction
// per worker cycle" in BENCHMARKS.md).
//
// Two is one instance's number: with other instances on the database the
// spare worker sits out (instances.go).
const batchWorkers = 2

// batcher runs worker cycles until the store closes. A spare one (every
// worker but the first) sits out while other instances share the
// database (instances.go).
func (s *Store) batcher(spare bool) {
	enq := make([]*enqOp, 0, maxEnqueueBatch)
	txn := make([]*txnOp, 0, maxTxnBatch)
	for {
		if spare && s.parked() {
			if s.ctx.Err() != nil {
				return // the first worker answers what is queued
			}
			continue
		}
		enq, txn = enq[:0], txn[:0]
		select {
		case <-s.ctx.Done():
			s.failQueued()
			return
		case o := <-s.enqc:
			enq = append(enq, o)
		case op := <-s.txnc:
			txn = append(txn, op)
		}
	drain:
		for len(enq) < maxEnqueueBatch || len(txn) < maxTxnBatch {
			if len(enq) == maxEnqueueBatch {
				select {
				case op := <-s.txnc:
					txn = append(txn, op)
					continue
				default:
					break drain
				}
			}
			if len(txn) == maxTxnBatch {
				select {
				case o := <-s.enqc:
					enq = append(enq, o)
					continue
				default:
					break drain
				}
			}
			select {
			case o := <-s.enqc:
				enq = append(enq, o)
			case op := <-s.txnc:
				txn = append(txn, op)
			default:
				break drain
			}
		}
		s.runCycle(enq, txn)
		clear(enq)
		clear(txn)
	}
}

// runCycle runs one worker cycle in one transaction where it can: the
// Advance and receipt calls' reads in the first round trip, their writes,
// the enqueues' multi-row INSERTs and one COMMIT in the second
// (txn_batch.go). Before, a cycle with both committed twice: the txn
// batch's two round trips, then the enqueue batch's BEGIN/INSERT/COMMIT
// in a third, so each cycle paid two WAL flushes and enqueued messages
// were answered a round trip later. A cycle with enqueues only keeps
// their one-round-trip transaction (insertPlain). Limited enqueues (a
// per-recipient limit) take advisory locks and count before they insert,
// so they keep a transaction of their own (insertLimited), after the
// shared one, as before.
func (s *Store) runCycle(enq []*enqOp, txn []*txnOp) {
	live := liveTxnOps(txn)
	plain, limited := splitEnqueues(enq)
	ctx, cancel := context.WithTimeout(s.ctx, txnBatchTimeout)
	defer cancel()
	kick := false
	switch {
	case len(live) > 0:
		kick = s.runTxnBatch(ctx, live, plain)
	case len(plain) > 0:
		res, err := s.insertPlain(ctx, plain)
		kick = s.answerBatch(ctx, plain, res, err)
	}
	if len(limited) > 0 {
		res, err := s.insertLimited(ctx, limited)
		kick = s.answerBatch(ctx, limited, res, err) || kick
	}
	if kick {
		s.kick() // claimable now by any instance
	}
}

// failQueued answers the calls still queued when the store closes.
func (s *Store) failQueued() {
	for {
		select {
		case o := <-s.enqc:
			o.done <- enqResult{err: store.ErrClosed}
		case op := <-s.txnc:
			op.done <- store.ErrClosed
		default:
			return
		}
	}
}
