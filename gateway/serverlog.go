package gateway

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// serverErrorLog is the ErrorLog of the gateway's http.Servers: what
// net/http says about a connection (a panic in a handler, an accept
// error, a response it could not write) goes to the gateway's log at
// WARN, except failed TLS handshakes, which go at DEBUG.
//
// Why: on a listener with TLS every port scanner, load balancer TCP check
// and client with a stale CA makes net/http log "http: TLS handshake error
// from ...", often several a second, burying the lines ops need. Such a
// failure is the client's, the gateway can do nothing about it, and it
// never touches a message. net/http reports it only as this log line, so
// its prefix is what tells it apart.
func serverErrorLog(h slog.Handler) *log.Logger {
	return slog.NewLogLogger(quietHandshakes{h}, slog.LevelWarn)
}

// tlsHandshakePrefix starts net/http's line for a failed handshake
// (net/http's conn.serve).
const tlsHandshakePrefix = "http: TLS handshake error"

type quietHandshakes struct{ slog.Handler }

func (q quietHandshakes) Handle(ctx context.Context, r slog.Record) error {
	if r.Level > slog.LevelDebug && strings.HasPrefix(r.Message, tlsHandshakePrefix) {
		if !q.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return q.Handler.Handle(ctx, r)
}

func (q quietHandshakes) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandshakes{q.Handler.WithAttrs(as)}
}

func (q quietHandshakes) WithGroup(name string) slog.Handler {
	return quietHandshakes{q.Handler.WithGroup(name)}
}
