package postgres

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/internal/testpg"
	"github.com/switchboard-gw/switchboard/store"
)

// A database that ran migration 0012 before 0013 existed: 0012's trigger
// kept a queue row for a canceled message and dropped the one of a
// delivered message waiting for its read. 0013 puts both right, so the
// waiting message is claimed at its read deadline, and Stats counts
// neither as pending.
func TestMigration0013RepairsQueue(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := testpg.DB(t)
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()

	ms, err := migrations()
	require.NoError(t, err)
	_, err = pool.Exec(ctx, createSchemaMigrations)
	require.NoError(t, err)
	for _, m := range ms {
		if m.Version > 12 {
			break
		}
		_, err = pool.Exec(ctx, m.SQL)
		require.NoError(t, err, m.Name)
		_, err = pool.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
		require.NoError(t, err)
	}

	now := time.Now().UTC().Truncate(time.Microsecond)
	deadline := now.Add(-time.Minute) // the read deadline has passed
	for _, id := range []string{"m-canceled", "m-unread"} {
		_, err = pool.Exec(ctx, `WITH ins AS (INSERT INTO messages (id, status, created_at, updated_at, next_at)
			VALUES ($1, 'queued', $2, $2, $2) RETURNING id, next_at)
			INSERT INTO message_queue (id, next_at) SELECT id, next_at FROM ins`, id, now)
		require.NoError(t, err)
	}
	_, err = pool.Exec(ctx, `UPDATE messages SET status = 'canceled', next_at = NULL WHERE id = 'm-canceled'`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE messages SET status = 'delivered', next_at = $1 WHERE id = 'm-unread'`, deadline)
	require.NoError(t, err)
	var queued []string
	require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM message_queue`).Scan(&queued))
	require.Equal(t, []string{"m-canceled"}, queued, "0012's trigger, before the repair")

	s := openDSN(t, dsn) // applies 0013
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM message_queue`).Scan(&queued))
	require.Equal(t, []string{"m-unread"}, queued)
	var unreadIndex bool
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'messages_unread')`).Scan(&unreadIndex))
	require.False(t, unreadIndex, "messages_unread would make message updates non-HOT")

	st, err := s.Stats(ctx, now)
	require.NoError(t, err)
	require.Zero(t, st.Pending, "a delivered message waiting for its read is not pending work")

	claimed, err := s.Claim(ctx, store.ClaimParams{Owner: "d", Lease: time.Minute, Limit: 10, Now: now})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, "m-unread", claimed[0].ID)
	require.Equal(t, store.StatusDelivered, claimed[0].Status)
}
