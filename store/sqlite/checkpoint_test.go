package sqlite

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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

	frames, copied, err := s.w.ckpt.checkpoint(ctx)
	require.NoError(t, err)
	require.Greater(t, frames, 2000)
	require.Equal(t, frames, copied, "a round with no reader open copies every page")

	_, _, err = s.Enqueue(ctx, newMsg())
	require.NoError(t, err)
	frames, _, err = s.w.ckpt.checkpoint(ctx)
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
