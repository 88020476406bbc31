package pii

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
)

var (
	// phoneRe: an E.164 number, optionally after "whatsapp:" or "tel:".
	phoneRe = regexp.MustCompile(`\+[1-9][0-9]{6,14}`)
	emailRe = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)
)

// Redact masks every E.164 phone number ("+15551234567") and email address
// in s, as Phone and Email do; the rest of s is unchanged. It is the safety
// net for text that may quote a recipient: provider and store errors.
func Redact(s string) string {
	if !strings.ContainsAny(s, "@+") {
		return s
	}
	if strings.IndexByte(s, '@') >= 0 {
		s = emailRe.ReplaceAllStringFunc(s, Email)
	}
	if strings.IndexByte(s, '+') >= 0 {
		s = phoneRe.ReplaceAllStringFunc(s, Phone)
	}
	return s
}

// NewHandler wraps h so that no log line carries a full phone number or
// email address: the message and every string, error and fmt.Stringer
// attribute value go through Redact. Recipients logged as Address are
// masked already; this catches the ones quoted in error text.
func NewHandler(h slog.Handler) slog.Handler { return &handler{h: h} }

type handler struct{ h slog.Handler }

func (r *handler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r *handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redactAttr(a)
	}
	return &handler{h: r.h.WithAttrs(red)}
}

func (r *handler) WithGroup(name string) slog.Handler { return &handler{h: r.h.WithGroup(name)} }

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); strings.ContainsAny(s, "@+") {
			return slog.String(a.Key, Redact(s))
		}
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, ga := range g {
			out[i] = redactAttr(ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case fmt.Stringer:
			s = x.String()
		default:
			return slog.Attr{Key: a.Key, Value: v}
		}
		if red := Redact(s); red != s {
			return slog.String(a.Key, red)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
