package postgres

import "github.com/switchboard-gw/switchboard/store"

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
const batchWorkers = 2

func (s *Store) batcher() {
	enq := make([]*enqOp, 0, maxEnqueueBatch)
	txn := make([]*txnOp, 0, maxTxnBatch)
	for {
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
		if len(txn) > 0 {
			s.runTxnBatch(txn)
		}
		if len(enq) > 0 {
			s.runEnqueueBatch(enq)
		}
		clear(enq)
		clear(txn)
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
