package pii

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMasks(t *testing.T) {
	t.Parallel()
	tests := []struct{ kind, in, want string }{
		{"sms", "+15551234567", "+155******67"},
		{"whatsapp", "+447700900123", "+447*******23"},
		{"sms", "+123", "****"},
		{"email", "ana@example.com", "a**@example.com"},
		{"email", "a@example.com", "a*@example.com"},
		{"email", "élodie@example.fr", "é*****@example.fr"},
		{"email", "not-an-email", "**********il"},
		{"telegram", "123456789", "*******89"},
		{"telegram", "12", "**"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, Address{Kind: tt.kind, Value: tt.in}.String(), "%s %s", tt.kind, tt.in)
	}
}

func TestLogLinesNeverHoldTheAddress(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	a := Address{Kind: "sms", Value: "+15551234567"}
	log.Info("sent", "to", a)
	log.Info("sent", slog.Any("to", a))
	fmt.Fprintf(&buf, "%v %+v %s", a, a, a)
	require.NotContains(t, buf.String(), "+15551234567")
	require.Contains(t, buf.String(), "+155******67")
}

func TestRedact(t *testing.T) {
	t.Parallel()
	require.Equal(t, "send to +155******67 failed: whatsapp:+447*******23, a**@example.com, 12345",
		Redact("send to +15551234567 failed: whatsapp:+447700900123, ana@example.com, 12345"))
	require.Equal(t, "no address here: +1 and a@b", Redact("no address here: +1 and a@b"))
}

func TestHandlerMasksEveryLine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil))).With("rcpt", "bob@example.org")
	log.Info("undeliverable: +15551234567",
		"err", fmt.Errorf("provider said: %s is blocked", "+447700900123"),
		slog.Group("to", "email", "ana@example.com"),
		"addr", Address{Kind: "sms", Value: "+15551234567"}, "n", 3)
	out := buf.String()
	for _, raw := range []string{"+15551234567", "+447700900123", "ana@example.com", "bob@example.org"} {
		require.NotContains(t, out, raw)
	}
	for _, masked := range []string{"+155******67", "+447*******23", "a**@example.com", "b**@example.org", `"n":3`} {
		require.Contains(t, out, masked)
	}
}
