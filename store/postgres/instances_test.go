package postgres

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/internal/testpg"
)

// Each instance sees whether others share its database (their listener
// connections), so its spare batch worker sits out while they do and
// comes back once it is alone.
func TestInstancesShareTheDatabase(t *testing.T) {
	t.Parallel()
	dsn := testpg.DB(t)
	a := openDSN(t, dsn)
	waitSignal(t, a.Notify(), "a's listener connected")
	n, err := a.countInstances(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.False(t, a.shared.Load())

	b := openDSN(t, dsn)
	waitSignal(t, b.Notify(), "b's listener connected")
	n, err = a.countInstances(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Eventually(t, func() bool { return a.shared.Load() && b.shared.Load() }, 10*time.Second, 10*time.Millisecond,
		"both instances see the other")
	require.True(t, a.parked(), "a's spare worker sits out")

	require.NoError(t, b.Close())
	require.Eventually(t, func() bool { return !a.shared.Load() }, 10*time.Second, 10*time.Millisecond,
		"a alone again")
	require.False(t, a.parked())
	// Both workers answer: a message goes through with a alone again.
	_, _, err = a.Enqueue(t.Context(), msg())
	require.NoError(t, err)
}
