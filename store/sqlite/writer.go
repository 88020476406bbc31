package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// opFunc runs inside the writer's transaction, in its own savepoint. An
// error rolls the savepoint back unless it is a keepError.
type opFunc func(w *writer) (any, error)

type op struct {
	fn   opFunc
	ctx  context.Context
	done chan result // buffered: the writer never waits for a caller
}

type result struct {
	v   any
	err error
}

// keepError is an op's answer that is an error for the caller but whose
// writes must still commit (Advance records attempts even when the lease
// was lost).
type keepError struct{ err error }

func (k *keepError) Error() string { return k.err.Error() }
func (k *keepError) Unwrap() error { return k.err }

// writer owns the only write connection. SQLite allows one writer at a
// time anyway; funnelling every write through one goroutine turns lock
// contention into batching, so N concurrent writes cost one fsync.
type writer struct {
	db       *sql.DB
	conn     *sql.Conn
	ops      chan *op
	stopped  chan struct{}
	maxBatch int
	st       stmts
}

func newWriter(ctx context.Context, db *sql.DB, conn *sql.Conn, maxBatch int) (*writer, error) {
	w := &writer{
		db:       db,
		conn:     conn,
		ops:      make(chan *op, maxBatch),
		stopped:  make(chan struct{}),
		maxBatch: maxBatch,
	}
	if err := w.st.prepare(ctx, conn); err != nil {
		w.st.close()
		return nil, err
	}
	go w.run()
	return w, nil
}

func (w *writer) run() {
	defer close(w.stopped)
	batch := make([]*op, 0, w.maxBatch)
	results := make([]result, w.maxBatch)
	for first := range w.ops {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < w.maxBatch {
			select {
			case o, ok := <-w.ops:
				if !ok {
					break drain
				}
				batch = append(batch, o)
			default:
				break drain
			}
		}
		w.commit(batch, results[:len(batch)])
		clear(batch) // let answered ops be collected
	}
}

// commit runs batch in one transaction and answers every op only after
// COMMIT returned, so no caller hears "stored" for data that is not on disk.
func (w *writer) commit(batch []*op, results []result) {
	ctx := context.Background() // one caller's deadline must not abort the others' batch
	clear(results)
	failAll := func(err error) {
		_, _ = w.conn.ExecContext(ctx, "ROLLBACK")
		for _, o := range batch {
			o.done <- result{err: err}
		}
	}
	if _, err := w.st.begin.ExecContext(ctx); err != nil {
		failAll(fmt.Errorf("begin write transaction: %w", err))
		return
	}
	for i, o := range batch {
		// The caller gave up before its turn: doing the work would store
		// something the caller was told failed.
		if err := o.ctx.Err(); err != nil {
			results[i].err = err
			continue
		}
		if _, err := w.st.savepoint.ExecContext(ctx); err != nil {
			failAll(fmt.Errorf("savepoint: %w", err))
			return
		}
		v, err := o.fn(w)
		var keep *keepError
		if err != nil && !errors.As(err, &keep) {
			// A failure that already rolled back the whole transaction (disk
			// full, I/O error) also makes ROLLBACK TO fail, since the
			// savepoint is gone: then nothing done so far in the batch holds.
			if _, rerr := w.st.rollbackTo.ExecContext(ctx); rerr != nil {
				failAll(fmt.Errorf("%w (and roll back to savepoint: %w)", err, rerr))
				return
			}
			if _, rerr := w.st.release.ExecContext(ctx); rerr != nil {
				failAll(fmt.Errorf("%w (and release savepoint: %w)", err, rerr))
				return
			}
			results[i].err = err
			continue
		}
		if _, rerr := w.st.release.ExecContext(ctx); rerr != nil {
			failAll(fmt.Errorf("release savepoint: %w", rerr))
			return
		}
		if keep != nil {
			err = keep.err
		}
		results[i] = result{v: v, err: err}
	}
	if _, err := w.st.commit.ExecContext(ctx); err != nil {
		failAll(fmt.Errorf("commit write transaction: %w", err))
		return
	}
	for i, o := range batch {
		o.done <- results[i]
	}
}

func (w *writer) close() error {
	w.st.close()
	return errors.Join(w.conn.Close(), w.db.Close())
}
