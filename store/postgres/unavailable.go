package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchboard-gw/switchboard/store"
)

// unavailable marks err as store.ErrUnavailable when it says the database
// could not be reached, rather than that the call itself was wrong: a
// connection that could not be made (server down, restarting, refusing
// connections), a connection that broke under the call, or the server
// ending the session (a fast shutdown's SQLSTATE 57P01). Other errors are
// returned as they are.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) || !connectionLost(err) {
		return err
	}
	return &store.UnavailableError{Err: err}
}

func connectionLost(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The caller gave up (or its deadline passed): not a verdict on
		// the database.
		return false
	}
	var connect *pgconn.ConnectError
	if errors.As(err, &connect) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		// Class 08: connection exception. 57P01-57P03: the server shuts
		// down (admin, crash) or cannot take connections yet. 53300: too
		// many connections.
		return strings.HasPrefix(pg.Code, "08") || pg.Code == "57P01" || pg.Code == "57P02" || pg.Code == "57P03" || pg.Code == "53300"
	}
	var netErr net.Error
	if errors.As(err, &netErr) && !netErr.Timeout() {
		return true
	}
	// A connection closed by the driver after an earlier failure, an
	// error that happened before anything was sent (pgconn.SafeToRetry: a
	// dead connection taken from the pool), or a socket the server closed
	// mid-message.
	return errors.Is(err, pgconn.ErrConnClosed) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
