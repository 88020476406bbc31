package gateway

import (
	"context"
	"log/slog"
)

// relevel is a log handler that logs the records lower picks at the lower
// level it gives, and drops them when the handler's level leaves that
// level out. The gateway quiets two kinds of records this way: a failed
// store's repeated errors (fatalQuiet) and failed TLS handshakes
// (serverErrorLog).
type relevel struct {
	slog.Handler
	lower func(r slog.Record) (slog.Level, bool)
}

func (h relevel) Handle(ctx context.Context, r slog.Record) error {
	if l, ok := h.lower(r); ok && l < r.Level {
		if !h.Handler.Enabled(ctx, l) {
			return nil
		}
		r = r.Clone()
		r.Level = l
	}
	return h.Handler.Handle(ctx, r)
}

func (h relevel) WithAttrs(as []slog.Attr) slog.Handler {
	return relevel{h.Handler.WithAttrs(as), h.lower}
}

func (h relevel) WithGroup(name string) slog.Handler {
	return relevel{h.Handler.WithGroup(name), h.lower}
}
