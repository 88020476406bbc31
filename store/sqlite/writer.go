package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/switchboard-gw/switchboard/store"
)

// opFunc runs inside the writer's transaction, alongside the other ops of
// its batch. An op that returns an error (other than a keepError or a
// cleanError) may have written part of its work: the writer then rolls the
// whole batch back and re-runs each of its ops in a transaction of its own,
// so only the failing op fails. An op must therefore be safe to run twice
// (every op only reads its arguments and the database).
type opFunc func(w *writer) (any, error)

type op struct {
	fn   opFunc
	ctx  context.Context
	done chan result // buffered: the writer never waits for a caller
	// insertID is the id of the message the op inserts (Enqueue), or "".
	// The writer runs a batch's inserts in id order (see orderInserts).
	insertID string
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

// cleanError is an op's answer that is an error for the caller and that the
// op returned before writing anything (ErrNotFound): the batch goes on.
type cleanError struct{ err error }

func (c *cleanError) Error() string { return c.err.Error() }
func (c *cleanError) Unwrap() error { return c.err }

// answer classifies an op's return: whether the batch can go on, and what
// the caller is told once the batch commits.
func answer(v any, err error) (r result, ok bool) {
	if err == nil {
		return result{v: v}, true
	}
	var keep *keepError
	if errors.As(err, &keep) {
		return result{v: v, err: keep.err}, true
	}
	var clean *cleanError
	if errors.As(err, &clean) {
		return result{v: v, err: clean.err}, true
	}
	return result{err: err}, false
}

// writer owns the only write connection. SQLite allows one writer at a
// time anyway; funnelling every write through one goroutine turns lock
// contention into batching, so N concurrent writes cost one fsync.
//
// Durability is pipelined: the connection commits with synchronous=NORMAL
// (no fsync inside COMMIT) and a second goroutine, the syncer, fdatasyncs
// the WAL file before it answers the batch. Meanwhile the writer already
// runs the next batch. An op is answered only once its COMMIT frame is on
// disk, which is what synchronous=FULL guarantees; the fsync just no longer
// stalls the one goroutine every write waits for. (WAL recovery keeps the
// longest prefix of valid frames, so a crash can never keep a later batch
// and lose an earlier one.)
type writer struct {
	db       *sql.DB
	conn     *sql.Conn
	ops      chan *op
	stopped  chan struct{}
	maxBatch int
	st       stmts

	wal      *os.File             // the WAL file, for the syncer's fdatasync
	walSync  func(*os.File) error // fdatasync; tests wrap it
	toSync   chan syncBatch       // committed batches waiting for their fdatasync
	syncDone chan struct{}        // closed when the syncer has answered everything

	// The sticky failed state (see fail): once a sync or a write of the
	// database failed, no op runs and none is answered with success again.
	failOnce sync.Once
	fatal    error         // the *store.FatalError; set before failed closes
	failed   chan struct{} // closed by fail
}

// fail puts the writer in its failed state for good, with cause, and
// returns the *store.FatalError every op is answered with from then on.
// Why for good: after a failed fsync Linux may have dropped the dirty
// pages, and a later fsync can succeed without writing them, so later
// batches answered "stored" could be lost in crash recovery; after a
// failed write the WAL may hold a torn frame. Only a restart (which runs
// SQLite's recovery) makes the file trustworthy again.
func (w *writer) fail(cause error) error {
	w.failOnce.Do(func() {
		w.fatal = &store.FatalError{Err: cause}
		close(w.failed)
	})
	<-w.failed
	return w.fatal
}

// failure returns the *store.FatalError once the writer failed, else nil.
func (w *writer) failure() error {
	select {
	case <-w.failed:
		return w.fatal
	default:
		return nil
	}
}

// syncBatch is a committed batch and its answers, held until the WAL sync.
type syncBatch struct {
	ops     []*op
	results []result
}

func newWriter(ctx context.Context, db *sql.DB, conn *sql.Conn, wal *os.File, walSync func(*os.File) error, maxBatch int) (*writer, error) {
	w := &writer{
		db:       db,
		conn:     conn,
		ops:      make(chan *op, maxBatch),
		stopped:  make(chan struct{}),
		maxBatch: maxBatch,
		wal:      wal,
		walSync:  walSync,
		// Room for one batch syncing and one queued: the writer runs at
		// most two commits ahead of the disk.
		toSync:   make(chan syncBatch, 1),
		syncDone: make(chan struct{}),
		failed:   make(chan struct{}),
	}
	if err := w.st.prepare(ctx, conn); err != nil {
		w.st.close()
		return nil, err
	}
	go w.syncer()
	go w.run()
	return w, nil
}

// syncer fdatasyncs the WAL for every committed batch, several at a time
// when they queue up, and only then answers their ops.
func (w *writer) syncer() {
	defer close(w.syncDone)
	var pending []syncBatch
	for b := range w.toSync {
		pending = append(pending[:0], b)
	more:
		for {
			select {
			case b, ok := <-w.toSync:
				if !ok {
					break more
				}
				pending = append(pending, b)
			default:
				break more
			}
		}
		// Once the writer failed nothing more is confirmed, even a batch
		// committed before the failure: a later fsync may report success
		// without writing what a failed one lost. A client told 503 for
		// a message that did reach the disk retries with its
		// Idempotency-Key and gets the stored one back.
		err := w.failure()
		if err == nil {
			if serr := w.syncWAL(); serr != nil {
				err = w.fail(serr)
			} else {
				err = w.failure() // failed while this sync ran
			}
		}
		for _, b := range pending {
			for i, o := range b.ops {
				r := b.results[i]
				if err != nil && r.err == nil {
					r = result{err: err}
				}
				o.done <- r
			}
		}
		clear(pending)
	}
}

func (w *writer) syncWAL() error {
	if err := w.walSync(w.wal); err != nil {
		return fmt.Errorf("sync write-ahead log: %w", err)
	}
	return nil
}

// answerDurable hands a committed batch to the syncer.
func (w *writer) answerDurable(batch []*op, results []result) {
	w.toSync <- syncBatch{ops: slices.Clone(batch), results: slices.Clone(results)}
}

func (w *writer) run() {
	defer close(w.stopped)
	defer func() {
		close(w.toSync)
		<-w.syncDone
	}()
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
		if err := w.failure(); err != nil {
			for _, o := range batch {
				o.done <- result{err: err}
			}
		} else {
			orderInserts(batch)
			w.commit(batch, results[:len(batch)])
		}
		clear(batch) // let answered ops be collected
	}
}

// orderInserts moves a batch's inserts after its other ops, in message id
// order. Ids are UUIDv7, taken when the request arrived, and requests reach
// the writer slightly out of that order: an id below the b-tree's last key
// lands inside the rightmost leaf instead of after it, and when that leaf
// is full SQLite rebalances it with its siblings (three or four pages
// rewritten, and written to the WAL, instead of one new page). In id order
// the inserts of messages, their tag rows and the due index append at the
// right edge. Every op of a batch was submitted concurrently and none has
// been answered, so running them in any order is a valid serialization;
// the other ops keep their order.
func orderInserts(batch []*op) {
	slices.SortStableFunc(batch, func(a, b *op) int { return strings.Compare(a.insertID, b.insertID) })
}

// commit runs batch in one transaction and answers every op only after
// COMMIT returned, so no caller hears "stored" for data that is not on disk.
// The ops run back to back, with no savepoint around each: a savepoint costs
// two statements and copies every page an op touches to the sub-journal,
// for the rare op that fails.
func (w *writer) commit(batch []*op, results []result) {
	ctx := context.Background() // one caller's deadline must not abort the others' batch
	clear(results)
	failAll := func(err error) {
		_, _ = w.st.rollback.ExecContext(ctx)
		if storageFailure(err) {
			err = w.fail(err)
		}
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
		r, ok := answer(o.fn(w))
		if !ok && storageFailure(r.err) {
			// The disk, not the op, failed: running the ops one by one
			// would only write more to a file that cannot be trusted.
			failAll(r.err)
			return
		}
		if !ok {
			// The op may have written part of its work. Also covers a
			// failure that already rolled the whole transaction back (disk
			// full, I/O error): then ROLLBACK fails, which changes nothing.
			_, _ = w.st.rollback.ExecContext(ctx)
			w.oneByOne(batch)
			return
		}
		results[i] = r
	}
	if _, err := w.st.commit.ExecContext(ctx); err != nil {
		failAll(fmt.Errorf("commit write transaction: %w", err))
		return
	}
	w.answerDurable(batch, results)
}

// oneByOne runs each op of a batch that failed in a transaction of its own,
// so only the ops that fail on their own fail.
func (w *writer) oneByOne(batch []*op) {
	ctx := context.Background()
	for _, o := range batch {
		if err := w.failure(); err != nil {
			o.done <- result{err: err}
			continue
		}
		if err := o.ctx.Err(); err != nil {
			o.done <- result{err: err}
			continue
		}
		if _, err := w.st.begin.ExecContext(ctx); err != nil {
			err = fmt.Errorf("begin write transaction: %w", err)
			if storageFailure(err) {
				err = w.fail(err)
			}
			o.done <- result{err: err}
			continue
		}
		r, ok := answer(o.fn(w))
		if !ok {
			// A failure that rolled back by itself makes ROLLBACK fail too:
			// either way nothing of the op holds.
			_, _ = w.st.rollback.ExecContext(ctx)
			if storageFailure(r.err) {
				r.err = w.fail(r.err)
			}
			o.done <- r
			continue
		}
		if _, err := w.st.commit.ExecContext(ctx); err != nil {
			_, _ = w.st.rollback.ExecContext(ctx)
			r = result{err: fmt.Errorf("commit write transaction: %w", err)}
			if storageFailure(r.err) {
				r.err = w.fail(r.err)
			}
		} else if err := w.syncWAL(); err != nil {
			r = result{err: w.fail(err)}
		} else if err := w.failure(); err != nil {
			r = result{err: err} // the syncer's sync failed meanwhile
		}
		o.done <- r
	}
}

func (w *writer) close() error {
	w.st.close()
	return errors.Join(w.conn.Close(), w.db.Close(), w.wal.Close())
}
