package gateway

import (
	"errors"
	"log/slog"

	"github.com/switchboard-gw/switchboard/store"
)

// storeFailed returns the channel closed when the store fails for good
// (store.Failer), or nil (never ready) for a store that cannot.
func storeFailed(st store.Store) <-chan struct{} {
	if f, ok := st.(store.Failer); ok {
		return f.Failed()
	}
	return nil
}

// fatalQuiet keeps a storage failure to one ERROR line. Once the store has
// failed, every component's next write fails with store.ErrFatal (each
// send, claim, renewal, callback) until the gateway has shut down; those
// records drop to WARN, and the gateway logs the failure once, at ERROR.
func fatalQuiet(h slog.Handler) slog.Handler {
	return relevel{h, func(r slog.Record) (slog.Level, bool) {
		return slog.LevelWarn, r.Level >= slog.LevelError && recordIsFatal(r)
	}}
}

func recordIsFatal(r slog.Record) bool {
	fatal := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && errors.Is(err, store.ErrFatal) {
			fatal = true
			return false
		}
		return true
	})
	return fatal
}
