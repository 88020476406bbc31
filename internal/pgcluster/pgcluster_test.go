package pgcluster

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	got, err := WithDatabase("postgres://u:p@h:5/postgres?sslmode=disable", "x")
	require.NoError(t, err)
	require.Equal(t, "postgres://u:p@h:5/x?sslmode=disable", got)
	got, err = WithDatabase("host=h user=u", "x")
	require.NoError(t, err)
	require.Equal(t, "host=h user=u dbname=x", got)
}

// Durable turns fsync on; the default leaves it off. One cluster each,
// a database created and dropped on it.
func TestStartDurable(t *testing.T) {
	t.Parallel()
	for _, durable := range []bool{false, true} {
		c, err := Start(Options{Durable: durable})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, c.Stop()) })
		dsn, err := c.CreateDatabase(t.Context(), "probe")
		require.NoError(t, err)
		conn, err := pgx.Connect(t.Context(), dsn)
		require.NoError(t, err)
		var fsync, syncCommit string
		require.NoError(t, conn.QueryRow(t.Context(), "SELECT current_setting('fsync'), current_setting('synchronous_commit')").Scan(&fsync, &syncCommit))
		require.NoError(t, conn.Close(t.Context()))
		want := map[bool]string{false: "off", true: "on"}[durable]
		require.Equal(t, want, fsync)
		require.Equal(t, want, syncCommit)
		require.NoError(t, c.DropDatabase(t.Context(), "probe"))
	}
}

// Restart closes the clients' connections and brings the same server back
// on the same port, with its data; a Use cluster cannot be restarted.
func TestRestart(t *testing.T) {
	t.Parallel()
	c, err := Start(Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Stop()) })
	ctx := t.Context()
	require.NoError(t, c.Exec(ctx, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)"))
	old, err := pgx.Connect(ctx, c.AdminDSN)
	require.NoError(t, err)
	defer old.Close(context.Background())

	for _, down := range []time.Duration{0, 200 * time.Millisecond} {
		require.NoError(t, c.Restart(down))
		var n int
		require.Error(t, old.QueryRow(ctx, "SELECT n FROM kept").Scan(&n), "a connection from before the restart is closed")
		conn, err := pgx.Connect(ctx, c.AdminDSN)
		require.NoError(t, err, "the same DSN reaches the restarted server")
		require.NoError(t, conn.QueryRow(ctx, "SELECT n FROM kept").Scan(&n))
		require.Equal(t, 42, n)
		require.NoError(t, conn.Close(ctx))
	}

	u, err := Use(c.AdminDSN)
	require.NoError(t, err)
	require.ErrorIs(t, u.Restart(0), ErrNotOwned)
}
