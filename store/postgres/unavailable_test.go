package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/internal/pgcluster"
	"github.com/switchboard-gw/switchboard/store"
)

// While the database server is down, every call fails with an error that
// errors.Is store.ErrUnavailable (the API answers 503 with Retry-After,
// not 500); a call that reached the database and was answered is not
// marked, whatever its error.
func TestServerDownIsUnavailable(t *testing.T) {
	t.Parallel()
	cluster, err := pgcluster.Start(pgcluster.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cluster.Stop() })
	ctx := t.Context()
	dsn, err := cluster.CreateDatabase(ctx, "unavailable")
	require.NoError(t, err)
	s := openDSN(t, dsn)
	m, _, err := s.Enqueue(ctx, msg())
	require.NoError(t, err)

	_, err = s.Get(ctx, uuid.NewString())
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NotErrorIs(t, err, store.ErrUnavailable, "an answer from the database is not an outage")
	_, err = s.List(ctx, store.ListParams{Cursor: "not-a-cursor", Limit: 1})
	require.ErrorIs(t, err, store.ErrInvalidCursor, "a cursor that is not one of ours is bad input (400), not a database error")

	require.NoError(t, cluster.Stop())
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, m.ID); return err }},
		{"List", func(ctx context.Context) error { _, err := s.List(ctx, store.ListParams{Limit: 10}); return err }},
		{"Enqueue", func(ctx context.Context) error { _, _, err := s.Enqueue(ctx, msg()); return err }},
		{"Callbacks", func(ctx context.Context) error { _, err := s.Callbacks(ctx, m.ID); return err }},
		{"ClaimCallbacks", func(ctx context.Context) error {
			_, err := s.ClaimCallbacks(ctx, "test-owner", time.Minute, 10, time.Now())
			return err
		}},
		{"Ping", s.Ping},
	}
	for _, c := range calls {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.call(cctx)
		cancel()
		require.Error(t, err, c.name)
		require.ErrorIs(t, err, store.ErrUnavailable, "%s: %v", c.name, err)
	}
}

func TestConnectionLost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connect refused", &pgconn.ConnectError{Config: &pgconn.Config{}}, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"socket reset", fmt.Errorf("read: %w", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), true},
		{"unexpected EOF", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{"conn closed", fmt.Errorf("query: %w", pgconn.ErrConnClosed), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"caller cancelled", context.Canceled, false},
		{"caller deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), false},
		{"not found", store.ErrNotFound, false},
		{"other", errors.New("decode metadata"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := unavailable(tt.err)
			require.Equal(t, tt.want, errors.Is(err, store.ErrUnavailable), "%v", err)
			require.ErrorIs(t, err, tt.err, "the cause stays reachable")
		})
	}
}
