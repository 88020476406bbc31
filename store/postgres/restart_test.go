package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/internal/pgcluster"
	"github.com/switchboard-gw/switchboard/store"
)

// A server restart is not fatal to a Store: while the server is down its
// calls fail (promptly, with an error); once it is back they work again on
// new connections, and the LISTEN connection reconnects so notifications
// from other instances arrive again. Nothing has to be reopened.
func TestStoreSurvivesServerRestart(t *testing.T) {
	t.Parallel()
	cluster, err := pgcluster.Start(pgcluster.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cluster.Stop()) })
	ctx := t.Context()
	dsn, err := cluster.CreateDatabase(ctx, "restart")
	require.NoError(t, err)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	wake := b.Notify()
	waitSignal(t, wake, "the listener's first signal after it connects")
	_, _, err = a.Enqueue(ctx, msg())
	require.NoError(t, err)
	waitSignal(t, wake, "a notification before the restart")

	restarted := make(chan error, 1)
	go func() { restarted <- cluster.Restart(time.Second) }()
	// While it is down: an error, within the call's deadline.
	require.Eventually(t, func() bool {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, _, err := a.Enqueue(cctx, msg())
		return err != nil && cctx.Err() == nil
	}, 30*time.Second, 10*time.Millisecond, "an enqueue fails while the server is down")
	require.Error(t, b.Ping(ctx))
	require.NoError(t, <-restarted)

	// Back: the pool reconnects.
	require.Eventually(t, func() bool { return a.Ping(ctx) == nil }, 30*time.Second, 10*time.Millisecond)
	m, _, err := a.Enqueue(ctx, msg())
	require.NoError(t, err)
	got, err := a.Get(ctx, m.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusQueued, got.Status)

	// The listener reconnected (seen in pg_stat_activity); then a's
	// enqueue wakes b again.
	admin, err := pgx.Connect(ctx, cluster.AdminDSN)
	require.NoError(t, err)
	defer admin.Close(context.Background())
	require.Eventually(t, func() bool {
		var n int
		err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = 'restart'`,
			"switchboard"+listenerAppSuffix).Scan(&n)
		return err == nil && n == 1
	}, 30*time.Second, 10*time.Millisecond, "the listener is connected again")
	waitSignal(t, wake, "the listener's signal after it reconnects")
	_, _, err = a.Enqueue(ctx, msg())
	require.NoError(t, err)
	waitSignal(t, wake, "a notification after the restart")
}
