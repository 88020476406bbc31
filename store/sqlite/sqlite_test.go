package sqlite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/storetest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "data", "switchboard.db"))
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func newMsg() *store.Message {
	return &store.Message{
		ID:     uuid.Must(uuid.NewV7()).String(),
		Policy: "otp",
		Route:  []string{"whatsapp", "sms"},
		To:     store.Recipient{Phone: "+15551234567", Email: "ana@example.com"},
		Body:   "Your code is 123456",
		Tags:   []string{"otp"},
	}
}

func countMessages(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	require.NoError(t, s.read.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM messages").Scan(&n))
	return n
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "nested", "dir", "sb.db")
	s, err := Open(ctx, path)
	require.NoError(t, err)

	var mode string
	var sync, fk int
	require.NoError(t, s.w.conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode))
	require.NoError(t, s.w.conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync))
	require.NoError(t, s.w.conn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk))
	require.Equal(t, "wal", mode)
	// NORMAL: COMMIT does not fsync; the writer's syncer fdatasyncs the
	// WAL before any op is answered (TestOpsAnsweredAfterWALSync).
	require.Equal(t, 1, sync)
	require.Equal(t, 1, fk)

	m, _, err := s.Enqueue(ctx, newMsg())
	require.NoError(t, err)
	now := time.Now().UTC()
	_, err = s.Claim(ctx, store.ClaimParams{Owner: "d", Lease: time.Minute, Limit: 1, Now: now})
	require.NoError(t, err)
	require.NoError(t, s.Advance(ctx, &store.Transition{MessageID: m.ID, Owner: "d",
		Attempts: []store.Attempt{{Seq: 1, Channel: "whatsapp", Status: store.AttemptSent, ProviderID: "wa1", StartedAt: now}},
		Status:   store.StatusSent, Channel: "whatsapp", NextAt: now.Add(time.Minute), Now: now}))
	before, err := s.Get(ctx, m.ID)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	ms, err := migrations()
	require.NoError(t, err)
	for range 2 { // reopening must not re-apply anything
		s, err = Open(ctx, path)
		require.NoError(t, err)
		after, err := s.Get(ctx, m.ID)
		require.NoError(t, err)
		require.Equal(t, before, after)
		var n, v int
		require.NoError(t, s.read.QueryRowContext(ctx, "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &v))
		require.Equal(t, len(ms), n)
		require.Equal(t, ms[len(ms)-1].Version, v)
		require.NoError(t, s.Close())
	}
}

func TestOpenRejectsNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sb.db")
	s, err := Open(t.Context(), path)
	require.NoError(t, err)
	_, err = s.w.conn.ExecContext(t.Context(), "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)")
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = Open(t.Context(), path)
	require.ErrorContains(t, err, "newer than this binary")
}

func TestConcurrentEnqueueDurable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sb.db")
	s, err := Open(ctx, path)
	require.NoError(t, err)
	const workers, each = 64, 25
	acked := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				m, _, err := s.Enqueue(ctx, newMsg())
				if err != nil {
					t.Error(err)
					return
				}
				acked[w] = append(acked[w], m.ID)
			}
		})
	}
	wg.Wait()
	require.NoError(t, s.Close())

	s = openAt(t, path)
	rows, err := s.read.QueryContext(ctx, "SELECT id FROM messages")
	require.NoError(t, err)
	stored := map[string]bool{}
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		stored[id] = true
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Len(t, stored, workers*each)
	for _, list := range acked {
		require.Len(t, list, each)
		for _, id := range list {
			require.True(t, stored[id], "acknowledged message %s missing", id)
		}
	}
}

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	return storetest.MustOpen(t, func(ctx context.Context) (*Store, error) { return Open(ctx, path) })
}

// holdWriter parks the writer inside a batch until the returned func is
// called, so the ops submitted meanwhile all land in the next batch.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	gate, entered := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := s.do(context.Background(), func(*writer) (any, error) {
			close(entered)
			<-gate
			return nil, nil
		})
		done <- err
	}()
	<-entered
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(gate)
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(release) // a failed test must not leave Close waiting on the writer
	return release
}

func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(s.w.ops) == n }, 5*time.Second, time.Millisecond)
}

func TestFailingOpDoesNotFailItsBatch(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTemp(t)
	dup := newMsg()
	_, _, err := s.Enqueue(ctx, dup)
	require.NoError(t, err)

	release := holdWriter(t, s)
	good1, good2 := newMsg(), newMsg()
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for i, m := range []*store.Message{good1, dup, good2} {
		wg.Go(func() {
			_, _, err := s.Enqueue(ctx, m)
			errs <- err
		})
		waitQueued(t, s, i+1) // keep the submission order
	}
	// An op that writes, then fails: its own writes must roll back.
	half := newMsg()
	wg.Go(func() {
		_, err := s.do(ctx, func(w *writer) (any, error) {
			if _, err := w.st.insertMessage.Exec(half.ID, "", "", "", "", "[]", nil, nil, nil, nil, "", "", "[]", "{}", "",
				"queued", int64(1), int64(1), nil, int64(1), "", nil, ""); err != nil {
				return nil, err
			}
			return nil, errors.New("changed my mind")
		})
		errs <- err
	})
	waitQueued(t, s, 4)
	release()
	wg.Wait()
	close(errs)
	var failed []error
	for err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	require.Len(t, failed, 2)
	require.ErrorContains(t, errors.Join(failed...), "insert message")
	require.ErrorContains(t, errors.Join(failed...), "changed my mind")

	for _, m := range []*store.Message{good1, good2, dup} {
		_, err := s.Get(ctx, m.ID)
		require.NoError(t, err)
	}
	_, err = s.Get(ctx, half.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Equal(t, 3, countMessages(t, s))
}

func TestCallerGoneBeforeItsTurnIsNotStored(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	release := holdWriter(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	m := newMsg()
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Enqueue(ctx, m)
		done <- err
	}()
	waitQueued(t, s, 1)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	release()
	// The writer skipped it: a request that timed out left nothing behind.
	require.NoError(t, s.Ping(t.Context()))
	_, _, err := s.Enqueue(t.Context(), newMsg()) // flushes the writer past the skipped op
	require.NoError(t, err)
	_, err = s.Get(t.Context(), m.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestCloseFlushesQueuedOps(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sb.db")
	s, err := Open(t.Context(), path)
	require.NoError(t, err)
	release := holdWriter(t, s)
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			_, _, err := s.Enqueue(t.Context(), newMsg())
			errs <- err
		}()
	}
	waitQueued(t, s, n)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	release()
	require.NoError(t, <-closed)
	for range n {
		require.NoError(t, <-errs, "ops queued before Close still commit")
	}
	require.Equal(t, n, countMessages(t, openAt(t, path)))
}

// TestCrashLosesNothing kills -9 a child process that is enqueueing and
// checks every message it acknowledged is in the file.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sb.db")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "SB_CRASH_CHILD_DB="+path)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 500 {
		if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked = append(acked, id)
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	require.Len(t, acked, 500, "child did not get going")

	s := openAt(t, path)
	for _, id := range acked {
		_, err := s.Get(t.Context(), id)
		require.NoError(t, err, "acknowledged message %s lost in the crash", id)
	}
}

// TestMain doubles as TestCrashLosesNothing's child process: started with
// SB_CRASH_CHILD_DB set, the test binary enqueues until it is killed.
func TestMain(m *testing.M) {
	if path := os.Getenv("SB_CRASH_CHILD_DB"); path != "" {
		crashChild(path)
	}
	os.Exit(m.Run())
}

// crashChild enqueues from 32 goroutines, printing each acknowledged id,
// and never returns.
func crashChild(path string) {
	s, err := Open(context.Background(), path)
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	for range 32 {
		go func() {
			for {
				m, _, err := s.Enqueue(context.Background(), newMsg())
				if err != nil {
					panic(err)
				}
				mu.Lock()
				fmt.Println("acked", m.ID)
				mu.Unlock()
			}
		}()
	}
	select {}
}

// withWALSync replaces the writer's fdatasync of the WAL.
func withWALSync(fn func(*os.File) error) Option {
	return func(o *options) { o.walSync = fn }
}

func TestOpsAnsweredAfterWALSync(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	started := make(chan string, 16)
	release := make(chan error)
	s, err := Open(ctx, filepath.Join(t.TempDir(), "sb.db"), withWALSync(func(f *os.File) error {
		started <- f.Name()
		if err := <-release; err != nil {
			return err
		}
		return fdatasync(f)
	}))
	require.NoError(t, err)
	t.Cleanup(func() {
		close(release) // later syncs go through
		require.NoError(t, s.Close())
	})

	done := make(chan error, 1)
	go func() {
		_, _, err := s.Enqueue(ctx, newMsg())
		done <- err
	}()
	name := <-started
	require.True(t, strings.HasSuffix(name, "sb.db-wal"), "syncs the WAL file, got %s", name)
	select {
	case err := <-done:
		t.Fatalf("Enqueue answered (err %v) before the WAL sync finished", err)
	default:
	}
	release <- nil
	require.NoError(t, <-done)

	// A failed sync fails the op: its data may not be on disk.
	go func() {
		_, _, err := s.Enqueue(ctx, newMsg())
		done <- err
	}()
	<-started
	release <- errors.New("disk on fire")
	err = <-done
	require.ErrorContains(t, err, "sync write-ahead log")
	require.ErrorContains(t, err, "disk on fire")
}

// A database that recorded a later migration without an earlier one (a
// build where the numbers landed out of order) gets the earlier one when
// it opens, instead of skipping it because a newer version is recorded.
func TestOpenAppliesAMissingEarlierMigration(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sb.db")
	s, err := Open(ctx, path)
	require.NoError(t, err)
	// As if 0007 (the suppression list) had never run here.
	_, err = s.w.conn.ExecContext(ctx, "DROP TABLE suppressions")
	require.NoError(t, err)
	_, err = s.w.conn.ExecContext(ctx, "DELETE FROM schema_migrations WHERE version = 7")
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Suppress(ctx, store.Suppression{Address: "+15551234567", Kind: "sms", Source: store.SourceAPI}),
		"the suppressions table is back")
	ms, err := migrations()
	require.NoError(t, err)
	var n int
	require.NoError(t, s.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = 7").Scan(&n))
	require.Equal(t, 1, n)
	require.NoError(t, s.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n))
	require.Equal(t, len(ms), n)
}
