package inbound_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/inbound"
	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/sqlite"
)

func TestKeyword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text    string
		keyword string
		action  inbound.Action
	}{
		{"STOP", "STOP", inbound.OptOut},
		{"stop", "STOP", inbound.OptOut},
		{"  Stop\n", "STOP", inbound.OptOut},
		{"StopAll", "STOPALL", inbound.OptOut},
		{"unsubscribe", "UNSUBSCRIBE", inbound.OptOut},
		{"Cancel", "CANCEL", inbound.OptOut},
		{"end", "END", inbound.OptOut},
		{"QUIT", "QUIT", inbound.OptOut},
		{"start", "START", inbound.OptIn},
		{" UNSTOP ", "UNSTOP", inbound.OptIn},
		{"please stop", "", inbound.None},
		{"STOP!", "", inbound.None},
		{"stop it", "", inbound.None},
		{"", "", inbound.None},
		{"Yes, 3pm works", "", inbound.None},
	}
	for _, tt := range tests {
		k, a := inbound.Keyword(tt.text)
		require.Equal(t, tt.keyword, k, "%q", tt.text)
		require.Equal(t, tt.action, a, "%q", tt.text)
	}
}

// memSuppressor is the suppression list kept in memory.
type memSuppressor struct {
	mu      sync.Mutex
	entries map[[2]string]store.Suppression
	fail    error
}

func newMem() *memSuppressor { return &memSuppressor{entries: map[[2]string]store.Suppression{}} }

func (m *memSuppressor) Suppress(_ context.Context, s store.Suppression) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.entries[[2]string{s.Address, s.Kind}] = s
	return nil
}

func (m *memSuppressor) Unsuppress(_ context.Context, address, kind string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return false, m.fail
	}
	_, ok := m.entries[[2]string{address, kind}]
	delete(m.entries, [2]string{address, kind})
	return ok, nil
}

func (m *memSuppressor) get(address, kind string) (store.Suppression, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.entries[[2]string{address, kind}]
	return s, ok
}

type counts struct {
	mu sync.Mutex
	n  map[inbound.Action]int
}

func (c *counts) Inbound(_, action string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[inbound.Action(action)]++
}

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "sb.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestHandler(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	sup := newMem()
	var logs bytes.Buffer
	woken := 0
	obs := &counts{n: map[inbound.Action]int{}}
	h := &inbound.Handler{Store: st, Suppressor: sup, CallbackURL: func() string { return "https://app.example.com/in" },
		CallbackDue: func() { woken++ }, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Obs: obs}
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	msg := func(id, text string) channels.Inbound {
		return channels.Inbound{Channel: "sms", From: "+15551234567", To: "+15005550006", Text: text, ProviderID: id, ReceivedAt: at}
	}

	require.NoError(t, h.Inbound(ctx, channels.SMS, msg("SM1", " Stop ")))
	s, ok := sup.get("+15551234567", "sms")
	require.True(t, ok, "STOP suppresses the sender for the channel's kind")
	require.Equal(t, store.Suppression{Address: "+15551234567", Kind: "sms", Reason: "STOP", Source: store.SourceInbound, CreatedAt: at}, s)
	_, ok = sup.get("+15551234567", "whatsapp")
	require.False(t, ok, "only that kind")

	// The provider retries the same message: stored and called back once.
	require.NoError(t, h.Inbound(ctx, channels.SMS, msg("SM1", " Stop ")))
	require.NoError(t, h.Inbound(ctx, channels.SMS, msg("SM2", "hello")))
	_, ok = sup.get("+15551234567", "sms")
	require.True(t, ok, "an ordinary message changes nothing")
	require.NoError(t, h.Inbound(ctx, channels.SMS, msg("SM3", "unstop")))
	_, ok = sup.get("+15551234567", "sms")
	require.False(t, ok, "UNSTOP removes the entry")

	res, err := st.ListInbound(ctx, store.InboundListParams{})
	require.NoError(t, err)
	require.Len(t, res.Messages, 3, "every message is stored, keywords too")
	require.Equal(t, []string{"unstop", "hello", " Stop "}, []string{res.Messages[0].Text, res.Messages[1].Text, res.Messages[2].Text})
	cbs, err := st.ClaimCallbacks(ctx, "t", time.Minute, 10, at.Add(time.Minute))
	require.NoError(t, err)
	require.Len(t, cbs, 3, "one callback per stored message, keywords too")
	require.Equal(t, 3, woken)
	require.Equal(t, map[inbound.Action]int{inbound.OptOut: 1, inbound.None: 1, inbound.OptIn: 1}, obs.n)

	require.NotContains(t, logs.String(), "+15551234567", "addresses are masked in logs")
	require.NotContains(t, logs.String(), "hello", "text is never logged")
	require.Contains(t, logs.String(), "from=+155******67")
}

func TestHandlerErrors(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	sup := newMem()
	sup.fail = errors.New("database is down")
	h := &inbound.Handler{Store: st, Suppressor: sup, Logger: slog.New(slog.DiscardHandler)}
	in := channels.Inbound{Channel: "wa", From: "+15551234567", Text: "STOP", ProviderID: "wamid.1"}
	err := h.Inbound(context.Background(), channels.WhatsApp, in)
	require.ErrorIs(t, err, sup.fail, "the provider must retry: the opt-out was not recorded")
	sup.fail = nil
	require.NoError(t, h.Inbound(context.Background(), channels.WhatsApp, in), "the retry")
	_, ok := sup.get("+15551234567", "whatsapp")
	require.True(t, ok, "the retry applies the keyword though the message was already stored")

	// Without a suppression list keywords are stored and forwarded only.
	h = &inbound.Handler{Store: st, Logger: slog.New(slog.DiscardHandler)}
	require.NoError(t, h.Inbound(context.Background(), channels.WhatsApp, channels.Inbound{Channel: "wa", From: "+15557654321", Text: "STOP", ProviderID: "wamid.2"}))

	require.NoError(t, st.Close())
	err = h.Inbound(context.Background(), channels.WhatsApp, channels.Inbound{Channel: "wa", From: "+15557654321", Text: "hi", ProviderID: "wamid.3"})
	require.ErrorIs(t, err, store.ErrClosed)
}
