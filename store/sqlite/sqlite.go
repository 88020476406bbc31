// Package sqlite is the embedded default store: one SQLite file in WAL mode.
//
// Every write goes through one goroutine that owns the only write
// connection and commits whatever ops are queued in one transaction (group
// commit), so many concurrent API requests share one fsync while each still
// gets its answer only after its data is on disk. Reads use a separate pool;
// WAL lets them run alongside the writer. A read can see a batch between its
// COMMIT and the WAL's fdatasync (see writer): data no writer has been told
// is stored yet, which a crash in that window takes back.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/switchboard-gw/switchboard/store"
)

var (
	_ store.Store  = (*Store)(nil)
	_ store.Failer = (*Store)(nil)
)

type options struct {
	maxBatch    int
	readers     int
	busyTimeout time.Duration
	walSync     func(*os.File) error // tests watch the WAL sync through this
	listScan    int                  // see Store.listScan
}

// Option tunes a Store.
type Option func(*options)

// WithMaxBatch caps how many ops one transaction (one fsync) carries.
func WithMaxBatch(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxBatch = n
		}
	}
}

// WithReaders sets the size of the read connection pool.
func WithReaders(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.readers = n
		}
	}
}

// WithBusyTimeout sets how long a connection waits for a lock held by
// another process (a second switchboard on the same file, a backup tool)
// before failing with SQLITE_BUSY.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.busyTimeout = d
		}
	}
}

// WithWALSync replaces the fdatasync of the write-ahead log that confirms
// every batch. For fault injection (a sync that fails or stalls); fn must
// sync f or fail.
func WithWALSync(fn func(f *os.File) error) Option {
	return func(o *options) {
		if fn != nil {
			o.walSync = fn
		}
	}
}

// Store is the SQLite implementation of store.Store.
type Store struct {
	read *sql.DB
	w    *writer
	// listScan caps how many rows a List that filters row by row looks at
	// for one page (see cappedListQuery).
	listScan int

	// mu guards closed against Close closing ops while a sender is sending.
	mu        sync.RWMutex
	closed    bool
	isClosed  atomic.Bool
	closeOnce sync.Once
	closeErr  error

	overrides chan struct{} // OverridesChanged; capacity 1, coalesced

	// The opt-out list's in-memory filter (suppressions.go).
	suppressed *store.SuppressionFilter
	suppMu     sync.Mutex

	lock     *os.File // the held lock file (lockDatabase); nil where flock is unavailable
	released Released // what Open released
}

// Open opens (creating it and its directory if needed) the database at path
// and brings its schema up to date.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{maxBatch: 256, readers: 4, busyTimeout: 5 * time.Second, walSync: fdatasync, listScan: defaultListScan}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return nil, errors.New("open sqlite store: empty path")
	}
	// The driver splits the DSN at the first '?', so such a path would be
	// silently truncated.
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open sqlite store: path %q contains '?'", path)
	}
	if err := createPrivate(path); err != nil { // 0600 file, 0700 directories
		return nil, err
	}
	// One process per file: the lock is what makes every lease found in
	// the file abandoned, so Open can release them (see releaseAbandoned).
	lock, err := lockDatabase(path)
	if err != nil {
		return nil, err
	}
	opened := false
	defer func() {
		if !opened && lock != nil {
			lock.Close()
		}
	}()

	// SQLite's own Linux builds commit with fdatasync; the transpiled
	// library defaults to fsync, which also forces the file's timestamps
	// through the ext4 journal on every commit. Durability is the same.
	_, _ = sqlite.Fdatasync(true)

	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	// The writer commits with synchronous=NORMAL and fdatasyncs the WAL
	// itself before answering (see writer), which is FULL's durability
	// with the fsync off the writer's path.
	wq := url.Values{"_pragma": append([]string{"journal_mode(WAL)", "synchronous(NORMAL)"}, q["_pragma"]...)}
	q.Add("_pragma", "synchronous(FULL)")

	wdb, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite write db: %w", err)
	}
	// One connection, held by the writer for the life of the store.
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	conn, err := wdb.Conn(ctx)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("connect sqlite write db: %w", err)
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("enable WAL mode (got %q): %w", mode, err)
	}
	if err := migrate(ctx, conn); err != nil {
		conn.Close()
		wdb.Close()
		return nil, err
	}
	var released Released
	if lock != nil {
		if released, err = releaseAbandoned(ctx, conn); err != nil {
			conn.Close()
			wdb.Close()
			return nil, err
		}
	}

	// Readers open after the migrations so they never see a half-made schema.
	rq := url.Values{"_pragma": append([]string{"query_only(1)"}, q["_pragma"]...)}
	rdb, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("open sqlite read db: %w", err)
	}
	rdb.SetMaxOpenConns(o.readers)
	rdb.SetMaxIdleConns(o.readers)
	if err := rdb.PingContext(ctx); err != nil {
		rdb.Close()
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("ping sqlite read db: %w", err)
	}

	// The migrations wrote, so the WAL file exists; it stays while the
	// writer's connection is open.
	wal, err := os.Open(path + "-wal")
	if err != nil {
		rdb.Close()
		conn.Close()
		wdb.Close()
		return nil, fmt.Errorf("open sqlite write-ahead log: %w", err)
	}
	w, err := newWriter(ctx, wdb, conn, wal, o.walSync, o.maxBatch)
	if err != nil {
		wal.Close()
		rdb.Close()
		conn.Close()
		wdb.Close()
		return nil, err
	}
	opened = true // from here Close releases the lock
	st := &Store{read: rdb, w: w, listScan: o.listScan, overrides: make(chan struct{}, 1), lock: lock, released: released,
		suppressed: store.NewSuppressionFilter()}
	if err := st.loadSuppressionFilter(ctx); err != nil {
		_ = st.Close()
		return nil, err
	}
	return st, nil
}

// do submits fn to the writer and waits for the batch it lands in to commit.
// If ctx ends after the op was queued the op may still commit; the caller
// then sees ctx's error, as with any timeout on a remote database.
func (s *Store) do(ctx context.Context, fn opFunc) (any, error) {
	return s.submit(ctx, &op{fn: fn, ctx: ctx, done: make(chan result, 1)})
}

// doInsert is do for an op that inserts the message id (see orderInserts).
func (s *Store) doInsert(ctx context.Context, id string, fn opFunc) (any, error) {
	return s.submit(ctx, &op{fn: fn, ctx: ctx, done: make(chan result, 1), insertID: id})
}

func (s *Store) submit(ctx context.Context, o *op) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, store.ErrClosed
	}
	if err := s.w.failure(); err != nil {
		s.mu.RUnlock()
		return nil, err
	}
	select {
	case s.w.ops <- o:
	case <-ctx.Done():
		s.mu.RUnlock()
		return nil, ctx.Err()
	}
	s.mu.RUnlock()
	select {
	case r := <-o.done:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Ping checks that the read pool answers and the store is open.
func (s *Store) Ping(ctx context.Context) error {
	if s.isClosed.Load() {
		return store.ErrClosed
	}
	if err := s.w.failure(); err != nil {
		return err // not ready: the process is on its way out
	}
	var one int
	if err := s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// Close stops accepting ops, commits the ones already queued and closes the
// database. Calling it again returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.isClosed.Store(true)
		s.mu.Lock()
		s.closed = true
		close(s.w.ops)
		s.mu.Unlock()
		<-s.w.stopped
		s.closeErr = errors.Join(s.w.close(), s.read.Close())
		if s.lock != nil {
			// After the database is closed: the next process may open it.
			s.closeErr = errors.Join(s.closeErr, s.lock.Close())
		}
	})
	return s.closeErr
}
