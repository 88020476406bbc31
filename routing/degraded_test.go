package routing

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/sqlite"
)

// A send the provider reports delivered at once, on the second channel of
// the route: the dispatcher logs and counts the degraded event.
func TestDegradedWhenDeliveredAtOnceOnFallback(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sb.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	delivered := outcome{res: channels.Result{ProviderID: "p-1", Delivered: true}}
	var lanes []*Lane
	for name, o := range map[string]outcome{"whatsapp": permanent, "sms": delivered, "email": delivered} {
		kind := map[string]channels.Kind{"whatsapp": channels.WhatsApp, "sms": channels.SMS, "email": channels.Email}[name]
		lanes = append(lanes, NewLane(&scripted{name: name, kind: kind, out: []outcome{o}}, chanConfig(name), slog.New(slog.DiscardHandler)))
	}
	r, err := NewRouter([]*config.Policy{otpPolicy()}, lanes, nil)
	require.NoError(t, err)
	var logs bytes.Buffer
	obs := &recObserver{}
	d := NewDispatcher(st, r, config.Dispatch{}, DispatcherOptions{Owner: "test", Observer: obs,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})

	now := time.Now().UTC()
	for _, id := range []string{"m-fallback", "m-first"} {
		to := store.Recipient{WhatsApp: "+15551234567", Phone: "+15551234567"}
		if id == "m-first" {
			to = store.Recipient{Phone: "+15551234567"}
		}
		route := []string{"whatsapp", "sms", "email"}
		if id == "m-first" {
			route = []string{"sms", "email"}
		}
		_, _, err := st.Enqueue(context.Background(), &store.Message{ID: id, Policy: "otp", Route: route, To: to,
			Body: "Your code is 123456", CreatedAt: now, NextAt: now, ExpiresAt: now.Add(time.Minute)})
		require.NoError(t, err)
	}
	msgs, err := st.Claim(context.Background(), store.ClaimParams{Owner: "test", Lease: time.Minute, Limit: 10, Now: now.Add(time.Second)})
	require.NoError(t, err)
	require.Len(t, msgs, 2)
	for _, m := range msgs {
		d.Process(m)
	}
	m, err := st.Get(context.Background(), "m-fallback")
	require.NoError(t, err)
	require.Equal(t, store.StatusDelivered, m.Status)
	require.Equal(t, []string{"otp/sms"}, obs.degraded, "once, and only for the message off its first channel")
	out := logs.String()
	require.Contains(t, out, `level=INFO msg="message delivered on a fallback channel" id=m-fallback channel=sms policy=otp failover_reasons="whatsapp: error"`)
	require.NotContains(t, out, "m-first")
	require.NotContains(t, out, "+1555")
	require.NotContains(t, out, "123456")
}

// A delivered receipt that finishes a message on a fallback channel: the
// receipt path logs and counts it, with the failover reasons from the
// stored history; a delivered receipt on the first channel does not.
func TestDegradedWhenReceiptFinishesOnFallback(t *testing.T) {
	t.Parallel()
	sb := setupSilent(t, config.ReceiptHealth{Disabled: true})
	var logs bytes.Buffer
	obs := &recObserver{}
	sb.d.obs = obs
	sb.receipts.Observer = obs
	sb.receipts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

	sb.send("m-fallback")
	sb.send("m-first")
	sb.run()
	sb.deliver("whatsapp", "m-first")
	sb.advance(31 * time.Second) // whatsapp's receipt deadline passes for m-fallback
	sb.run()
	require.Equal(t, "sms", sb.get("m-fallback").Channel)
	require.Empty(t, obs.degraded, "sent is not delivered")
	sb.deliver("sms", "m-fallback")

	require.Equal(t, store.StatusDelivered, sb.get("m-fallback").Status)
	require.Equal(t, []string{"otp/sms"}, obs.degraded)
	out := logs.String()
	require.Contains(t, out, `msg="message delivered on a fallback channel" id=m-fallback channel=sms policy=otp failover_reasons="whatsapp: no_receipt"`)
	require.NotContains(t, out, "m-first")
	require.NotContains(t, out, "+1555")
	require.NotContains(t, out, "ana@")
}
