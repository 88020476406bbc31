package postgres

import (
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
	select {
	case origin := <-got:
		require.Equal(t, "instance-a", origin)
	case <-time.After(10 * time.Second):
		t.Fatal("the other instance did not hear the reload broadcast")
	}
}
