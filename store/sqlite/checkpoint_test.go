package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

func withCheckpointEvery(d time.Duration) Option {
	return func(o *options) { o.checkpointEvery = d }
}

// TestCheckpointsOffTheWriter checks the writer leaves checkpoints to the
// checkpointer: with the checkpointer held back the WAL grows past the
// 1,000 pages where SQLite would have checkpointed inside a COMMIT, one
// checkpointer round then copies every page, and the next write starts
// the WAL over.
func TestCheckpointsOffTheWriter(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sb.db")
	s, err := Open(ctx, path, withCheckpointEvery(time.Hour))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	walPages := func() int64 {
		fi, err := os.Stat(path + "-wal")
		require.NoError(t, err)
		return fi.Size() / 4096
	}
	const workers, each = 32, 100
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if _, _, err := s.Enqueue(ctx, newMsg()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.Greater(t, walPages(), int64(2000), "the writer checkpointed by itself")

	frames, copied, err := checkpoint(ctx, s.w.ckpt.db)
	require.NoError(t, err)
	require.Greater(t, frames, 2000)
	require.Equal(t, frames, copied, "a round with no reader open copies every page")

	_, _, err = s.Enqueue(ctx, newMsg())
	require.NoError(t, err)
	frames, _, err = checkpoint(ctx, s.w.ckpt.db)
	require.NoError(t, err)
	require.Less(t, frames, 100, "the write after a full checkpoint starts the WAL over")
	require.Equal(t, workers*each+1, countMessages(t, s))
}

// TestCheckpointerRuns checks the background rounds happen: with nothing
// else checkpointing, the database file only grows if they copy pages.
func TestCheckpointerRuns(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sb.db")
	s, err := Open(ctx, path, withCheckpointEvery(5*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	size := func() int64 {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		return fi.Size()
	}
	before := size()
	for range 200 {
		_, _, err := s.Enqueue(ctx, newMsg())
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return size() > before }, 10*time.Second, 5*time.Millisecond,
		"no checkpoint copied the WAL into the database file")
}

func withCheckpointRound(fn func(context.Context, *sql.DB) error) Option {
	return func(o *options) { o.checkpoint = fn }
}

// TestCheckpointFailures checks how a failed checkpoint round is taken: a
// failed write or sync of the database file fails the store for good, as
// a failed WAL sync does; any other error (a lock held by a backup tool)
// leaves the pages in the WAL for the next round.
func TestCheckpointFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		err   error
		fatal bool
	}{
		{"I/O error", &os.PathError{Op: "write", Path: "sb.db", Err: syscall.EIO}, true},
		{"disk full", &os.PathError{Op: "write", Path: "sb.db", Err: syscall.ENOSPC}, true},
		{"anything else", errors.New("database is locked"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			var rounds atomic.Int32
			s, err := Open(ctx, filepath.Join(t.TempDir(), "sb.db"), withCheckpointEvery(time.Millisecond),
				withCheckpointRound(func(context.Context, *sql.DB) error {
					rounds.Add(1)
					return fmt.Errorf("checkpoint write-ahead log: %w", tc.err)
				}))
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			if tc.fatal {
				select {
				case <-s.Failed():
				case <-time.After(10 * time.Second):
					t.Fatal("the store did not fail")
				}
				var fe *store.FatalError
				require.ErrorAs(t, s.FailErr(), &fe)
				require.ErrorIs(t, s.FailErr(), tc.err.(*os.PathError).Err)
				_, _, err := s.Enqueue(ctx, newMsg())
				require.ErrorAs(t, err, &fe, "no write is taken after a failed checkpoint")
				require.EqualValues(t, 1, rounds.Load(), "no round after the failure")
				return
			}
			require.Eventually(t, func() bool { return rounds.Load() >= 5 }, 10*time.Second, time.Millisecond)
			require.NoError(t, s.FailErr())
			_, _, err = s.Enqueue(ctx, newMsg())
			require.NoError(t, err)
		})
	}
}
