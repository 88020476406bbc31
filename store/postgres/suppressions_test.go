package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/internal/testpg"
	"github.com/switchboard-gw/switchboard/store"
)

// TestSuppressionsAcrossInstances: each instance answers SuppressionsFor
// from its own filter, so a change made by one instance must reach the
// others' filters (NOTIFY), and an instance opened later loads the list.
func TestSuppressionsAcrossInstances(t *testing.T) {
	t.Parallel()
	dsn := testpg.DB(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	ctx := context.Background()
	to := store.Recipient{Phone: "+15550100001"}

	// b's listener is running before a writes.
	_, err := b.SuppressionsFor(ctx, to)
	require.NoError(t, err)
	waitListening(t, b)

	require.NoError(t, a.Suppress(ctx, store.Suppression{Address: to.Phone, Kind: "sms", Reason: "STOP", Source: store.SourceInbound}))
	require.Eventually(t, func() bool {
		got, err := b.SuppressionsFor(ctx, to)
		return err == nil && len(got) == 1
	}, 10*time.Second, 10*time.Millisecond, "another instance's opt-out reaches this one")

	c := openDSN(t, dsn)
	got, err := c.SuppressionsFor(ctx, to)
	require.NoError(t, err)
	require.Len(t, got, 1, "an instance opened later loads the list")

	removed, err := a.Unsuppress(ctx, to.Phone, "sms")
	require.NoError(t, err)
	require.True(t, removed)
	require.Eventually(t, func() bool {
		got, err := b.SuppressionsFor(ctx, to)
		return err == nil && len(got) == 0 && b.suppressed.MayHave(to.SuppressionKeys()) == false
	}, 10*time.Second, 10*time.Millisecond, "another instance's removal reaches this one's filter")
}

// waitListening waits until s's listener has LISTENed: a NOTIFY sent
// before that is not delivered to it.
func waitListening(t *testing.T, s *Store) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name LIKE '%`+listenerAppSuffix+`'`).Scan(&n)
		return err == nil && n > 0
	}, 10*time.Second, 10*time.Millisecond)
}
