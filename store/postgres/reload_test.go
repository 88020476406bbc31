package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/internal/testpg"
)

// A reload on one instance reaches the others sharing the database.
func TestReloadBroadcastAcrossInstances(t *testing.T) {
	t.Parallel()
	dsn := testpg.DB(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	got := b.ReloadRequested()
	// The listener connects lazily: wait until it listens (it signals
	// Notify once connected).
	waitSignal(t, b.Notify(), "the listener's first signal after it connects")

	require.NoError(t, a.BroadcastReload(t.Context(), "instance-a"))
	require.Equal(t, "instance-a", receiveReload(t, got, "the reload broadcast from another instance"))
}

// A broadcast made while an instance is open but not listening yet (a
// gateway starting) is delivered once it listens: several of them as one.
// Broadcasts from before it opened count as applied, and its own are not
// delivered to it.
func TestReloadBroadcastCaughtUpByLateListener(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := testpg.DB(t)
	a := openDSN(t, dsn)
	require.NoError(t, a.BroadcastReload(ctx, "a-before-b-opened"))
	b := openDSN(t, dsn)
	require.Equal(t, int64(1), b.reloadSeen.Load(), "the generation current when b opened")
	require.NoError(t, a.BroadcastReload(ctx, "a-1"))
	require.NoError(t, a.BroadcastReload(ctx, "a-2"))

	got := b.ReloadRequested()
	require.Equal(t, "a-2", receiveReload(t, got, "the broadcasts made before b listened"))
	waitCaughtUp(t, b)
	requireNoReload(t, got, "two missed broadcasts are one reload")

	// a catches up too: every stored broadcast is its own.
	aGot := a.ReloadRequested()
	waitCaughtUp(t, a)
	requireNoReload(t, aGot, "a's own broadcasts")

	require.NoError(t, b.BroadcastReload(ctx, "b-1"))
	require.Equal(t, "b-1", receiveReload(t, aGot, "b's broadcast"))
	waitCaughtUp(t, b) // b has read its own broadcast
	requireNoReload(t, got, "b's own broadcast")
}

// The listener's connection is cut (a failover, a restart, an idle
// timeout) and another instance broadcasts before it is back: the
// broadcast is caught up after the reconnect.
func TestReloadBroadcastCaughtUpAfterReconnect(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := testpg.DB(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	down, release := make(chan struct{}, 1), make(chan struct{})
	b.reconnectWait = func(ctx context.Context, _ time.Duration) bool {
		signal(down)
		select {
		case <-release:
			return true
		case <-ctx.Done():
			return false
		}
	}
	got := b.ReloadRequested()
	waitSignal(t, b.Notify(), "the listener's first signal after it connects")

	// Only b listens: a never asked for notifications.
	var killed int
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`,
		b.pool.Config().ConnConfig.RuntimeParams["application_name"]+listenerAppSuffix).Scan(&killed))
	require.Equal(t, 1, killed, "b's listener connection")
	select {
	case <-down:
	case <-time.After(30 * time.Second):
		t.Fatal("b's listener did not notice its connection was terminated")
	}

	// b's listener is down: this NOTIFY reaches nobody.
	require.NoError(t, a.BroadcastReload(ctx, "a-while-b-reconnects"))
	requireNoReload(t, got, "b is not listening")
	close(release)
	require.Equal(t, "a-while-b-reconnects", receiveReload(t, got, "the broadcast made while b's listener was down"))
}

// config_reloads keeps the newest keepReloads rows. An instance that missed
// more than that cannot tell whether one was another instance's: it
// reloads to be safe.
func TestReloadBroadcastsBounded(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := testpg.DB(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	require.NoError(t, a.BroadcastReload(ctx, "a"))
	for range keepReloads + 5 {
		require.NoError(t, b.BroadcastReload(ctx, "b"))
	}
	var n int
	require.NoError(t, a.pool.QueryRow(ctx, "SELECT count(*) FROM config_reloads").Scan(&n))
	require.Equal(t, keepReloads, n)

	require.Equal(t, prunedOrigin, receiveReload(t, b.ReloadRequested(), "a's broadcast, pruned before b read it"))
	waitCaughtUp(t, b)
}

func receiveReload(t *testing.T, c <-chan string, what string) string {
	t.Helper()
	select {
	case origin := <-c:
		return origin
	case <-time.After(30 * time.Second):
		t.Fatalf("no reload broadcast delivered: %s", what)
		return ""
	}
}

// requireNoReload checks nothing is pending on c; call it once the store
// has read every broadcast it should not deliver (waitCaughtUp).
func requireNoReload(t *testing.T, c <-chan string, why string) {
	t.Helper()
	select {
	case origin := <-c:
		t.Fatalf("reload delivered (origin %q), want none: %s", origin, why)
	default:
	}
}

// waitCaughtUp waits until s's listener has read every stored broadcast.
func waitCaughtUp(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		gen, err := reloadGeneration(t.Context(), s.pool)
		require.NoError(t, err)
		if s.reloadSeen.Load() == gen {
			return
		}
		require.True(t, time.Now().Before(deadline), "the listener did not catch up to generation %d (at %d)", gen, s.reloadSeen.Load())
		time.Sleep(10 * time.Millisecond)
	}
}
