package gateway_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
	"github.com/switchboard-gw/switchboard/internal/testpg"
	"github.com/switchboard-gw/switchboard/store"
)

// readConfig: two WhatsApp channels, one whose recipients read (a read
// receipt 5ms after delivery) and one where nobody reads (sim mode
// unread); both policies fail over to SMS when a WhatsApp message is not
// read within 10 minutes.
const readConfig = `
store: {driver: sqlite, dsn: "%DSN%"}
dispatch: {poll: 20ms}
auth:
  keys:
    - {name: shop, key: ` + sendKey + `, role: send}
channels:
  whatsapp:  {type: sim, kind: whatsapp, latency: 0s, receipt_delay: 5ms, read_delay: 5ms, probe: {interval: 1h}}
  wa_unread: {type: sim, kind: whatsapp, mode: unread, latency: 0s, receipt_delay: 5ms, read_delay: 5ms, probe: {interval: 1h}}
  sms:       {type: sim, kind: sms, latency: 0s, receipt_delay: 5ms, probe: {interval: 1h}}
policies:
  - name: reads
    route: [whatsapp, sms]
    failover_on: [error, breaker_open, unhealthy, no_receipt, undelivered, no_read]
    read_timeout: {whatsapp: 10m}
  - name: marketing
    route: [wa_unread, sms]
    failover_on: [error, breaker_open, unhealthy, no_receipt, undelivered, no_read]
    read_timeout: {whatsapp: 10m}
# The test's callback receiver (httptest) listens on 127.0.0.1.
callbacks: {allow_hosts: [127.0.0.1/32]}
`

// TestReadTimeoutFailover: through a running gateway and the Go client, a
// WhatsApp message delivered and never read moves on to SMS once the
// dispatcher's clock passes its read deadline (failover_reason no_read,
// delivered on SMS, no duplicate); one read in time stays read on
// WhatsApp. The clock is moved, never slept through. On both stores: on
// PostgreSQL the message waiting for its read is claimed at its deadline
// through message_queue (migration 0013).
func TestReadTimeoutFailover(t *testing.T) {
	t.Parallel()
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			testReadTimeoutFailover(t, driver)
		})
	}
}

func testReadTimeoutFailover(t *testing.T, driver string) {
	dir := t.TempDir()
	path := filepath.Join(dir, "switchboard.yaml")
	yml := strings.ReplaceAll(readConfig, "%DSN%", filepath.Join(dir, "sb.db"))
	if driver == "postgres" {
		yml = strings.Replace(yml, `store: {driver: sqlite, dsn: "`+filepath.Join(dir, "sb.db")+`"}`,
			`store: {driver: postgres, dsn: "`+testpg.DB(t)+`"}`, 1)
		require.Contains(t, yml, "driver: postgres")
	}
	require.NoError(t, os.WriteFile(path, []byte(yml), 0o600))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	var skew atomic.Int64 // the dispatcher's clock runs this far ahead
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler), ConfigFile: path, Clock: clock})
	require.NoError(t, err)
	// The callbacks the dispatcher queues are due by its clock.
	g.Callbacks.Now = clock
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	c := client.New("http://"+ln.Addr().String(), sendKey)

	h := newHook(t, nil)
	send := func(policy string) string {
		res, err := c.Send(t.Context(), &client.SendRequest{Policy: policy, Body: "Your order has shipped",
			To: client.Recipient{WhatsApp: "+15551234567", Phone: "+15551234567"}, CallbackURL: h.srv.URL}, "")
		require.NoError(t, err)
		return res.ID
	}
	waitFor := func(id, what string, ok func(m *client.Message) bool) *client.Message {
		t.Helper()
		var m *client.Message
		require.Eventually(t, func() bool {
			var err error
			m, err = c.Get(t.Context(), id)
			return err == nil && ok(m)
		}, 15*time.Second, 20*time.Millisecond, "%s: %s", id, what)
		return m
	}

	unread, read := send("marketing"), send("reads")
	m := waitFor(unread, "delivered on WhatsApp", func(m *client.Message) bool { return m.Status == "delivered" })
	require.Equal(t, "wa_unread", m.Channel)
	require.Len(t, m.Attempts, 1)
	require.Nil(t, m.Attempts[0].ReadAt)
	m = waitFor(read, "read on WhatsApp", func(m *client.Message) bool { return m.Status == "read" })
	require.NotNil(t, m.Attempts[0].ReadAt, "read_at recorded")

	// Callbacks in flight when the clock jumps would see their lease
	// expire and go out twice: let them settle first.
	h.waitCalls(unread, 2)
	h.waitCalls(read, 3)
	require.Eventually(t, func() bool {
		for _, id := range []string{unread, read} {
			cbs, err := g.Store.Callbacks(t.Context(), id)
			if err != nil {
				return false
			}
			for _, cb := range cbs {
				if cb.Status == store.CallbackPending {
					return false
				}
			}
		}
		return true
	}, 15*time.Second, 20*time.Millisecond, "callbacks settled")

	skew.Store(int64(11 * time.Minute)) // past the 10m read deadline
	m = waitFor(unread, "moved on to SMS", func(m *client.Message) bool { return m.Channel == "sms" && m.Status == "delivered" })
	require.Len(t, m.Attempts, 2)
	first, second := m.Attempts[0], m.Attempts[1]
	require.Equal(t, "wa_unread", first.Channel)
	require.Equal(t, "delivered", first.Status, "WhatsApp did deliver it")
	require.Equal(t, "no_read", first.FailoverReason)
	require.Nil(t, first.ReadAt)
	require.Equal(t, "sms", second.Channel)
	require.Equal(t, "delivered", second.Status)
	require.False(t, m.Duplicate, "moving on from an unread message is no duplicate")
	require.True(t, m.IsFallback)
	// The business app hears every change: delivered on WhatsApp, then
	// the route moved on and SMS sent and delivered it.
	var statuses []store.Status
	for _, call := range h.waitCalls(unread, 4) {
		// Signed at the skewed clock: 11m ahead, within the tolerance.
		require.NoError(t, client.VerifySignature(secretOf(t, g, "shop"), call.signature, call.body, 20*time.Minute, time.Now()))
		statuses = append(statuses, call.payload.Status)
	}
	require.Equal(t, []store.Status{store.StatusSent, store.StatusDelivered, store.StatusSent, store.StatusDelivered}, statuses)

	// The message read in time was no longer due once read: it never
	// moved, with the clock past its deadline too.
	m, err = c.Get(t.Context(), read)
	require.NoError(t, err)
	require.Equal(t, "read", m.Status)
	require.Equal(t, "whatsapp", m.Channel)
	require.Len(t, m.Attempts, 1)
}
