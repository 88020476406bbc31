package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// querier runs a query inside txn2's transaction (decide's rare reads).
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// txn2 runs one read-decide-write transaction in two round trips instead
// of one per statement: BEGIN and the statements first queues (which lock
// and load the state; read takes their results) go out as one pipelined
// batch; decide looks at that state, may run more queries on q for rare
// paths, and queues the writes; the writes and COMMIT go out as a second
// batch. Advance and RecordReceipt took four and five round trips before,
// each a backend wakeup and two context switches, which on a busy server
// was most of their cost.
//
// A batch that holds BEGIN leaves an ordinary transaction block open after
// its Sync (PostgreSQL ends the pipeline's implicit transaction at BEGIN),
// so the lock taken in the first batch holds until the second commits.
// Any error ends the transaction with ROLLBACK before the connection goes
// back to the pool.
//
// first learns whether the call shares a transaction with others: a read
// that could wait for a lock out of id order must not (receipts.go).
//
// st is where read puts the locked message's state: txn2 hands the whole
// call to the group commit (txn_batch.go), which runs it in one
// transaction with others and needs the id of the message it locked.
func (s *Store) txn2(ctx context.Context, st *msgState, first func(b *pgx.Batch, inBatch bool), read func(br pgx.BatchResults) error,
	decide func(q querier, b *pgx.Batch) error) error {
	return s.txnBatched(ctx, &txnOp{st: st, first: first, read: read, decide: decide})
}

// txn2One runs one txn2 call in a transaction of its own.
func (s *Store) txn2One(ctx context.Context, first func(b *pgx.Batch, inBatch bool), read func(br pgx.BatchResults) error,
	decide func(q querier, b *pgx.Batch) error) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	open := false
	defer func() {
		if !open {
			return
		}
		// Open or aborted: end it. A connection that cannot is closed,
		// and the pool drops it on Release.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, rerr := conn.Exec(rctx, "ROLLBACK"); rerr != nil {
			_ = conn.Conn().Close(rctx)
		}
	}()

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	first(b, false)
	open = true
	br := conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return err
	}
	if err := read(br); err != nil {
		_ = br.Close()
		return err
	}
	if err := br.Close(); err != nil {
		return err
	}

	w := &pgx.Batch{}
	if err := decide(conn, w); err != nil {
		return err
	}
	w.Queue("COMMIT")
	if err := conn.SendBatch(ctx, w).Close(); err != nil {
		return err
	}
	open = false
	return nil
}
