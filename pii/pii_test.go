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
