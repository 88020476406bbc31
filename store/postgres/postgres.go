// Package postgres is the store for more than one machine: any number of
// `switchboard serve` instances share one PostgreSQL database.
//
// The message row holds the queue state (status, next_at, lease), as in
// store/sqlite; message_queue (migration 0012), kept in step by a trigger,
// indexes the messages not final by when they may be claimed, so a
// message's updates touch no index on messages (HOT). Claim takes due rows
// with FOR UPDATE SKIP LOCKED and leases them (owner, expiry) in one
// statement, so instances never wait for each other and never claim the
// same message twice; a dead instance's messages are claimed again once
// their lease expires. Every write that decides on the current state locks
// the message row first (SELECT ... FOR UPDATE), then touches its attempts,
// so concurrent Advances and receipts serialise per message.
//
// Writes are group-committed (batcher.go): concurrent Enqueues become one
// multi-row INSERT, concurrent Advances and receipts share one
// transaction, and every caller is answered after its batch's COMMIT. A
// batch holds several row locks, so it can deadlock with another instance's
// batch; PostgreSQL's detector then refuses it and its calls run again one
// by one.
//
// Lease length: the dispatcher renews the leases of the messages it holds
// every lease/3 (RenewLeaseIDs), so a route of slow channels keeps its
// lease for as long as its instance lives; dispatch.lease (default 10s) is
// how long a crashed instance's messages wait before another instance
// takes them. A lease lost anyway (a process stalled past it) lets another
// instance send the message again; the stalled one learns it from the
// renewal (the id is not returned) or from Advance (ErrLeaseLost), and
// makes no further provider call for that message.
//
// A lost connection is not fatal: every call returns its error (the API
// answers 503, the dispatcher retries), pgxpool replaces broken
// connections, and the listener reconnects with backoff.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

var (
	_ store.Store             = (*Store)(nil)
	_ store.Notifier          = (*Store)(nil)
	_ store.ReloadBroadcaster = (*Store)(nil)
)

// NOTIFY channels.
const (
	dueChannel       = "switchboard_due"
	overridesChannel = "switchboard_overrides"
	reloadChannel    = "switchboard_reload"
)

// migrateLockKey is the pg_advisory_lock key that serialises migrations of
// instances starting at once ("switchboard" in ASCII, truncated).
const migrateLockKey int64 = 0x7377_6974_6368_626f

// createSchemaMigrations records the applied migrations.
const createSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer     NOT NULL PRIMARY KEY,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// defaultMaxConns: the dispatcher runs up to 64 sends at once and the API
// serves requests alongside; pgxpool's default (4 on a small machine) would
// queue them. A DSN's pool_max_conns wins.
const defaultMaxConns = 16

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool   *pgxpool.Pool
	closed atomic.Bool

	ctx    context.Context // background work; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	kickc    chan struct{} // coalesced requests to NOTIFY dueChannel
	enqc     chan *enqOp   // Enqueue's group commit (enqueue_batch.go)
	txnc     chan *txnOp   // Advance's and RecordReceipt's (txn_batch.go)
	inflight inflight      // attempts whose Advance has not committed yet (inflight.go)
	// onMerge, when set (tests), hears how many calls' writes each worker
	// cycle sent through its merger (merge.go).
	onMerge   func(rows int)
	listen    sync.Once
	due       chan struct{}
	overrides chan struct{}
	reloads   chan string // origins of reload broadcasts (capacity 1: coalesced)

	// Reload broadcasts (reloads.go): the newest generation delivered or
	// taken as applied, and the origins this store broadcast with (one per
	// gateway), whose broadcasts it does not deliver.
	reloadSeen atomic.Int64
	ownMu      sync.Mutex
	ownOrigins map[string]struct{}

	// reconnectWait waits d before the listener connects again, and
	// reports false if ctx ended first. Tests replace it, before the
	// listener starts, to hold the listener down.
	reconnectWait func(ctx context.Context, d time.Duration) bool

	// The opt-out list's in-memory filter (suppressions.go).
	suppressed *store.SuppressionFilter
	suppMu     sync.Mutex

	// shared: other instances use the database, so the spare batch
	// workers sit out (instances.go).
	shared atomic.Bool

	closeOnce sync.Once
}

// Open connects to the database at dsn (a postgres:// URL or keyword/value
// string; pool_max_conns and the other pgxpool settings are honoured) and
// brings its schema up to date. Several instances may open the same
// database at once: migrations run under an advisory lock.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return open(ctx, dsn, batchWorkers)
}

// open is Open with workers group-commit workers; a test that must hold a
// cycle's calls until they are all queued opens with none and starts one.
func open(ctx context.Context, dsn string, workers int) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse postgres dsn: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "switchboard"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect postgres: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	// Broadcasts made before Open count as applied: the caller loads its
	// config file after this (gateway.Run reads it again), and later
	// broadcasts are caught up even before the listener starts.
	gen, err := reloadGeneration(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("read the reload generation: %w", err)
	}
	bg, cancel := context.WithCancel(context.Background())
	s := &Store{
		pool: pool, ctx: bg, cancel: cancel,
		kickc:         make(chan struct{}, 1),
		enqc:          make(chan *enqOp, maxEnqueueBatch),
		txnc:          make(chan *txnOp, maxTxnBatch),
		due:           make(chan struct{}, 1),
		overrides:     make(chan struct{}, 1),
		reloads:       make(chan string, 1),
		ownOrigins:    map[string]struct{}{},
		reconnectWait: sleep,
		suppressed:    store.NewSuppressionFilter(),
	}
	if err := s.loadSuppressionFilter(ctx, pool); err != nil {
		cancel()
		pool.Close()
		return nil, fmt.Errorf("load the suppression list: %w", err)
	}
	s.reloadSeen.Store(gen)
	s.wg.Go(s.notifier)
	for i := range workers {
		spare := i > 0
		s.wg.Go(func() { s.batcher(spare) })
	}
	if workers > 1 {
		s.wg.Go(s.watchInstances)
	}
	return s, nil
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", unavailable(err))
	}
	return nil
}

// Close stops the background work and closes the pool, waiting for
// connections in use to be returned. Calling it again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.cancel()
		s.wg.Wait()
		s.pool.Close()
	})
	return nil
}

func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// wrap turns errors from a pool closed under a call into ErrClosed, and
// marks a lost connection store.ErrUnavailable (unavailable.go).
func (s *Store) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	return fmt.Errorf(format+": %w", append(args, unavailable(err))...)
}

// Notify implements store.Notifier with LISTEN on a dedicated connection.
func (s *Store) Notify() <-chan struct{} {
	s.startListener()
	return s.due
}

// OverridesChanged implements store.OverrideStore.
func (s *Store) OverridesChanged() <-chan struct{} {
	s.startListener()
	return s.overrides
}

func (s *Store) startListener() {
	s.listen.Do(func() {
		if s.closed.Load() {
			return
		}
		s.wg.Go(s.listener)
	})
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// kick asks for a NOTIFY of new due work. The NOTIFY runs on its own after
// the caller's write committed, coalescing bursts into one: a NOTIFY in the
// writing transaction would serialise every enqueue's commit on
// PostgreSQL's notify queue lock.
func (s *Store) kick() { signal(s.kickc) }

func (s *Store) notifier() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.kickc:
		}
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		_, _ = s.pool.Exec(ctx, "SELECT pg_notify($1, '')", dueChannel)
		cancel()
	}
}

// listenerAppSuffix is added to the listener connection's
// application_name ("switchboard listener"), so pg_stat_activity tells it
// from the pool's connections.
const listenerAppSuffix = " listener"

// Listener reconnect backoff: doubled after each failure, reset once
// connected.
const (
	minReconnect = 100 * time.Millisecond
	maxReconnect = 5 * time.Second
)

// listener holds one connection outside the pool in LISTEN, reconnecting
// after errors.
func (s *Store) listener() {
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] += listenerAppSuffix
	backoff := minReconnect
	for s.ctx.Err() == nil {
		_ = s.listenOnce(cfg, func() { backoff = minReconnect })
		if !s.reconnectWait(s.ctx, backoff) {
			return
		}
		backoff = min(2*backoff, maxReconnect)
	}
}

// listenOnce connects, LISTENs and hands out notifications until the
// connection fails or the store closes. Once listening it signals due and
// overrides, since notifications sent while it was not listening are lost,
// and catches up on reload broadcasts, which are stored.
func (s *Store) listenOnce(cfg *pgx.ConnConfig, listening func()) error {
	conn, err := pgx.ConnectConfig(s.ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(s.ctx, "LISTEN "+dueChannel+"; LISTEN "+overridesChannel+"; LISTEN "+reloadChannel+"; LISTEN "+suppressionsChannel); err != nil {
		return err
	}
	// Suppression changes made while no one listened are not notified.
	s.suppMu.Lock()
	err = s.loadSuppressionFilter(s.ctx, conn)
	s.suppMu.Unlock()
	if err != nil {
		return err
	}
	signal(s.due)
	signal(s.overrides)
	// After LISTEN: a broadcast committed after this read is notified.
	if err := s.catchUpReloads(s.ctx, conn); err != nil {
		return err
	}
	listening()
	for {
		n, err := conn.WaitForNotification(s.ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case dueChannel:
			signal(s.due)
		case overridesChannel:
			signal(s.overrides)
		case reloadChannel:
			if err := s.catchUpReloads(s.ctx, conn); err != nil {
				return err
			}
		case suppressionsChannel:
			if err := s.suppressionChanged(s.ctx, conn, n.Payload); err != nil {
				return err
			}
		}
	}
}

// sleep waits d, or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Migrations are numbered files (0001_init.sql, ...). Never edit one that
// has shipped: add the next number instead.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

func migrations() ([]store.Migration, error) {
	return store.ReadMigrations(migrationFiles, "migrations")
}

// migrate applies the migrations not yet recorded in schema_migrations,
// each in its own transaction, holding a session advisory lock so that
// instances starting together apply each one exactly once (the others wait,
// then find nothing to do).
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect postgres: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", migrateLockKey); err != nil {
			// The lock is the session's: drop the session so it cannot stay held.
			_ = conn.Conn().Close(context.Background())
		}
	}()
	// Each migration in its own transaction.
	return sqlshared.Migrate(ctx, ms, createSchemaMigrations, conn.Exec, conn.QueryRow, func(m store.Migration) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
	})
}

var errNoRows = pgx.ErrNoRows

func isNoRows(err error) bool { return errors.Is(err, errNoRows) }
