package gateway

import (
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
	quiet := relevel{h, func(r slog.Record) (slog.Level, bool) {
		return slog.LevelDebug, strings.HasPrefix(r.Message, tlsHandshakePrefix)
	}}
	return slog.NewLogLogger(quiet, slog.LevelWarn)
}

// tlsHandshakePrefix starts net/http's line for a failed handshake
// (net/http's conn.serve).
const tlsHandshakePrefix = "http: TLS handshake error"
