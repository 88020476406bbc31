package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// TestFailedSyncIsFatal: after one failed fdatasync the store answers no
// write with success again, even though a later sync would "succeed"
// (Linux may have dropped the pages the failed one did not write).
func TestFailedSyncIsFatal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sb.db")
	var failNext atomic.Bool
	var syncs atomic.Int64
	s, err := Open(ctx, path, WithWALSync(func(f *os.File) error {
		syncs.Add(1)
		if failNext.Swap(false) {
			return errors.New("injected EIO")
		}
		return fdatasync(f)
	}))
	require.NoError(t, err)
	ok, _, err := s.Enqueue(ctx, newMsg())
	require.NoError(t, err)
	select {
	case <-s.Failed():
		t.Fatal("failed before any error")
	default:
	}
	require.NoError(t, s.FailErr())

	failNext.Store(true)
	_, _, err = s.Enqueue(ctx, newMsg())
	require.ErrorIs(t, err, store.ErrFatal)
	var fe *store.FatalError
	require.ErrorAs(t, err, &fe)
	require.ErrorContains(t, fe.Err, "injected EIO")
	<-s.Failed() // closed: the gateway's signal to stop
	require.ErrorIs(t, s.FailErr(), store.ErrFatal)
	require.ErrorIs(t, s.Ping(ctx), store.ErrFatal, "not ready")

	// Every later write fails without touching the disk.
	n := syncs.Load()
	_, _, err = s.Enqueue(ctx, newMsg())
	require.ErrorIs(t, err, store.ErrFatal)
	require.ErrorIs(t, s.Release(ctx, "x"), store.ErrFatal)
	require.Equal(t, n, syncs.Load(), "no sync after the failure")
	// Reads still answer: what was stored before is there.
	_, err = s.Get(ctx, ok.ID)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	// A restart (SQLite's recovery) makes the file usable again, with every
	// message answered "stored" in it.
	s, err = Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Get(ctx, ok.ID)
	require.NoError(t, err)
	_, _, err = s.Enqueue(ctx, newMsg())
	require.NoError(t, err)
}

func TestStorageFailureClassification(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		err   error
		fatal bool
	}{
		{"nil", nil, false},
		{"constraint", errors.New("UNIQUE constraint failed"), false},
		{"ENOSPC", &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, true},
		{"EIO", &os.PathError{Op: "fsync", Path: "x", Err: syscall.EIO}, true},
	} {
		require.Equal(t, tc.fatal, storageFailure(tc.err), tc.name)
	}
}

// TestWriteErrorIsFatal: an op that fails because the disk did (an I/O
// error, a full disk) fails its whole batch with the store's fatal error,
// is not retried op by op, and leaves the store failed.
func TestWriteErrorIsFatal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "sb.db"))
	require.NoError(t, err)
	defer s.Close()
	var runs atomic.Int64
	_, err = s.do(ctx, func(w *writer) (any, error) {
		runs.Add(1)
		return nil, fmt.Errorf("write message: %w", &os.PathError{Op: "write", Path: "sb.db-wal", Err: syscall.ENOSPC})
	})
	require.ErrorIs(t, err, store.ErrFatal)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.Equal(t, int64(1), runs.Load(), "not retried on its own")
	<-s.Failed()
	_, _, err = s.Enqueue(ctx, newMsg())
	require.ErrorIs(t, err, store.ErrFatal)

	// An op's own error (not the disk's) leaves the store working.
	s2, err := Open(ctx, filepath.Join(t.TempDir(), "sb.db"))
	require.NoError(t, err)
	defer s2.Close()
	_, err = s2.do(ctx, func(w *writer) (any, error) { return nil, errors.New("constraint") })
	require.Error(t, err)
	require.NotErrorIs(t, err, store.ErrFatal)
	require.NoError(t, s2.FailErr())
	_, _, err = s2.Enqueue(ctx, newMsg())
	require.NoError(t, err)
}
