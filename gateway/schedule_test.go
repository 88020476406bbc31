package gateway_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
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
)

// scheduleConfig: otp sends at once; news keeps quiet hours in Berlin and
// fails over from WhatsApp to SMS when no receipt comes within 30m.
const scheduleConfig = `
store: {driver: sqlite, dsn: "%DSN%"}
dispatch: {poll: 20ms}
auth:
  keys:
    - {name: shop, key: ` + sendKey + `, role: send}
    - {name: other, key: ` + otherSendKey + `, role: send}
    - {name: ops, key: ` + adminKey + `, role: admin}
channels:
  whatsapp: {type: sim, kind: whatsapp, latency: 0s, receipt_delay: 1ms, probe: {interval: 1h}}
  sms:      {type: sim, kind: sms, latency: 0s, receipt_delay: 1ms, probe: {interval: 1h}}
policies:
  - name: otp
    route: [sms]
  - name: news
    route: [whatsapp, sms]
    receipt_timeout: {whatsapp: 30m}
    quiet_hours: {from: "21:00", to: "08:00", timezone: Europe/Berlin}
  - name: reminders
    route: [sms]
    quiet_hours: {from: "21:00", to: "08:00", timezone: recipient}
`

const otherSendKey = "test-other-send-key-0123456789"

// testClock is the gateway's clock in these tests: the real time plus an
// offset the test moves, so polls and leases keep running while the test
// jumps hours ahead instead of sleeping.
type testClock struct{ off atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *testClock) Advance(d time.Duration) { c.off.Add(int64(d)) }
func (c *testClock) Set(t time.Time)         { c.off.Store(int64(time.Until(t))) }

// runClocked runs a gateway on the SQLite file dsn, or on PostgreSQL when
// dsn is a PostgreSQL URL (testpg.DB).
func runClocked(t *testing.T, dsn string, clock *testClock) (string, func()) {
	t.Helper()
	yml := strings.ReplaceAll(scheduleConfig, "%DSN%", dsn)
	if strings.HasPrefix(dsn, "postgres") {
		yml = strings.Replace(yml, "driver: sqlite", "driver: postgres", 1)
	}
	cfg, err := config.Parse("t.yaml", []byte(yml))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler), Clock: clock.Now})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	return "http://" + ln.Addr().String(), func() {
		cancel()
		require.NoError(t, <-done)
	}
}

// waitMessage polls the message until ok holds (bounded; not a timing
// assertion: the bound only ends a test that would hang).
func waitMessage(t *testing.T, c *client.Client, id string, ok func(*client.Message) bool) *client.Message {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		m, err := c.Get(t.Context(), id)
		require.NoError(t, err)
		if ok(m) {
			return m
		}
		require.True(t, time.Now().Before(deadline), "message %s never got there: %+v", id, m)
		time.Sleep(5 * time.Millisecond)
	}
}

func hasStatus(s string) func(*client.Message) bool {
	return func(m *client.Message) bool { return m.Status == s }
}

func apiCode(err error) string {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// TestScheduledSend: a send with send_at is stored at once as scheduled,
// with its ttl counted from send_at; an idempotent replay answers the
// same; nothing goes out while an immediate send to the same channel is
// delivered; it goes out when the clock reaches send_at. Cancel: the
// sender or an admin, idempotent, 404 for another send key, 409 once
// handed over. On both stores (on PostgreSQL a canceled message leaves
// message_queue, migration 0013).
func TestScheduledSend(t *testing.T) {
	t.Parallel()
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			dsn := filepath.Join(t.TempDir(), "sb.db")
			if driver == "postgres" {
				dsn = testpg.DB(t)
			}
			testScheduledSend(t, dsn)
		})
	}
}

func testScheduledSend(t *testing.T, dsn string) {
	clock := &testClock{}
	base, stop := runClocked(t, dsn, clock)
	defer stop()
	ctx := t.Context()
	shop, other, ops := client.New(base, sendKey), client.New(base, otherSendKey), client.New(base, adminKey)

	at := clock.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	req := &client.SendRequest{To: client.Recipient{Phone: "+15551230101"}, Body: "Your order ships today", Policy: "otp", TTL: "10m", SendAt: at}
	sent, err := shop.Send(ctx, req, "order-7")
	require.NoError(t, err)
	require.Equal(t, "scheduled", sent.Status)
	require.Equal(t, "send_at", sent.WaitReason)
	require.True(t, at.Equal(*sent.NextAttemptAt))
	replay, err := shop.Send(ctx, req, "order-7")
	require.NoError(t, err)
	require.True(t, replay.Replayed)
	require.Equal(t, sent.ID, replay.ID)
	require.Equal(t, "scheduled", replay.Status, "a replay answers as the first send did")

	m, err := shop.Get(ctx, sent.ID)
	require.NoError(t, err)
	require.Equal(t, "scheduled", m.Status)
	require.True(t, at.Add(10*time.Minute).Equal(m.ExpiresAt), "ttl counts from send_at: %s", m.ExpiresAt)
	require.Empty(t, m.Attempts)

	b, err := shop.Batch(ctx, []client.BatchItem{{SendRequest: client.SendRequest{To: client.Recipient{Phone: "+15551230102"}, Body: "Reminder", Policy: "otp", SendAt: at}}}, "")
	require.NoError(t, err)
	require.Equal(t, "scheduled", b.Results[0].Status, "%+v", b.Results[0])
	batched := b.Results[0].ID

	// A send_at in the past sends now; once it is delivered, the
	// dispatcher has claimed due work, and the scheduled ones stayed.
	now, err := shop.Send(ctx, &client.SendRequest{To: client.Recipient{Phone: "+15551230103"}, Body: "Now", Policy: "otp", SendAt: clock.Now().Add(-time.Hour)}, "")
	require.NoError(t, err)
	require.Equal(t, "queued", now.Status)
	waitMessage(t, shop, now.ID, hasStatus("delivered"))
	m, err = shop.Get(ctx, sent.ID)
	require.NoError(t, err)
	require.Equal(t, "scheduled", m.Status)

	page, err := ops.ListPage(ctx, client.ListParams{Status: "scheduled"})
	require.NoError(t, err)
	var listed []string
	for _, m := range page.Messages {
		listed = append(listed, m.ID)
	}
	require.ElementsMatch(t, []string{sent.ID, batched}, listed)

	// Cancel.
	_, err = other.Cancel(ctx, batched)
	require.Equal(t, "not_found", apiCode(err), "another send key's message does not exist for it: %v", err)
	c, err := ops.Cancel(ctx, batched)
	require.NoError(t, err)
	require.Equal(t, "canceled", c.Status)
	c, err = shop.Cancel(ctx, batched)
	require.NoError(t, err, "canceling again is idempotent")
	require.Equal(t, "canceled", c.Status)
	_, err = shop.Cancel(ctx, now.ID)
	require.Equal(t, client.CodeNotCancelable, apiCode(err), "%v", err)

	// The time comes.
	clock.Advance(2*time.Hour + time.Second)
	m = waitMessage(t, shop, sent.ID, hasStatus("delivered"))
	require.Len(t, m.Attempts, 1)
	require.False(t, m.Attempts[0].StartedAt.Before(at), "it went out at send_at, not before")
	c, err = ops.Get(ctx, batched)
	require.NoError(t, err)
	require.Equal(t, "canceled", c.Status, "a canceled message never goes out")
	require.Empty(t, c.Attempts)

	// Every message is final now, the canceled one too: no work is left.
	require.Eventually(t, func() bool {
		return strings.Contains(scrape(t, base+"/metrics"), "\nswitchboard_queue_pending_messages 0\n")
	}, 15*time.Second, 20*time.Millisecond, "the queue drained")
}

// TestQuietHours: news keeps quiet hours 21:00-08:00 in Berlin. A send at
// 22:00 waits (scheduled, quiet_hours) until 08:00; explain says so; one
// whose ttl ends first expires; a failover step that falls inside the
// window waits too.
func TestQuietHours(t *testing.T) {
	t.Parallel()
	clock := &testClock{}
	clock.Set(time.Date(2026, 6, 10, 20, 0, 0, 0, time.UTC)) // 22:00 in Berlin
	base, stop := runClocked(t, filepath.Join(t.TempDir(), "sb.db"), clock)
	defer stop()
	ctx := t.Context()
	shop, ops := client.New(base, sendKey), client.New(base, adminKey)
	to := client.Recipient{Phone: "+15551230201", WhatsApp: "+15551230201"}
	morning := time.Date(2026, 6, 11, 6, 0, 0, 0, time.UTC) // 08:00 in Berlin

	ex, err := shop.Explain(ctx, &client.SendRequest{To: to, Body: "News", Policy: "news"})
	require.NoError(t, err)
	require.Equal(t, "quiet_hours", ex.WaitReason, "%+v", ex)
	require.True(t, morning.Equal(*ex.SendsAt), "%s", ex.SendsAt)
	require.Contains(t, ex.Wait, "quiet hours")

	// timezone recipient: at 20:00 UTC it is 16:00 in New York but 06:00
	// tomorrow in Guam, and an unplaced +1555 number spans both: it waits
	// for 08:00 in Guam. An email address has no zone: UTC, outside.
	ex, err = shop.Explain(ctx, &client.SendRequest{To: client.Recipient{Phone: "+15551230202"}, Body: "Reminder", Policy: "reminders"})
	require.NoError(t, err)
	require.Equal(t, "quiet_hours", ex.WaitReason, "%+v", ex)
	require.True(t, time.Date(2026, 6, 10, 22, 0, 0, 0, time.UTC).Equal(*ex.SendsAt), "%s", ex.SendsAt)
	ex, err = shop.Explain(ctx, &client.SendRequest{To: client.Recipient{Email: "ana@example.com"}, Body: "Reminder", Policy: "reminders"})
	require.NoError(t, err)
	require.Nil(t, ex.SendsAt, "no phone number: UTC, where 20:00 is outside the window")
	ex, err = shop.Explain(ctx, &client.SendRequest{To: to, Body: "Now", Policy: "otp"})
	require.NoError(t, err)
	require.Nil(t, ex.SendsAt, "a policy without quiet hours sends now")

	sent, err := shop.Send(ctx, &client.SendRequest{To: to, Body: "News", Policy: "news"}, "")
	require.NoError(t, err)
	require.Equal(t, "scheduled", sent.Status)
	require.Equal(t, "quiet_hours", sent.WaitReason)
	require.True(t, morning.Equal(*sent.NextAttemptAt))
	short, err := shop.Send(ctx, &client.SendRequest{To: to, Body: "Flash sale", Policy: "news", TTL: "30m"}, "")
	require.NoError(t, err)
	require.Equal(t, "scheduled", short.Status)
	require.Equal(t, "quiet_hours", short.WaitReason, "due at its expiry, inside the window")

	clock.Advance(31 * time.Minute)
	m := waitMessage(t, shop, short.ID, hasStatus("expired"))
	require.Empty(t, m.Attempts, "its ttl ended inside the window: nothing was sent")
	m, err = shop.Get(ctx, sent.ID)
	require.NoError(t, err)
	require.Equal(t, "scheduled", m.Status)
	require.Equal(t, "quiet_hours", m.WaitReason)

	clock.Set(morning.Add(time.Second))
	m = waitMessage(t, shop, sent.ID, hasStatus("delivered"))
	require.Equal(t, "whatsapp", m.Channel)

	// 20:45 in Berlin: WhatsApp takes it and never confirms; its receipt
	// deadline passes at 21:15, inside the window, so SMS waits for 08:00.
	clock.Set(time.Date(2026, 6, 11, 18, 45, 0, 0, time.UTC))
	err = ops.Do(ctx, "POST", "/v1/channels/whatsapp/sim", map[string]string{"mode": "blackhole"}, nil)
	require.NoError(t, err)
	late, err := shop.Send(ctx, &client.SendRequest{To: to, Body: "Evening news", Policy: "news"}, "")
	require.NoError(t, err)
	require.Equal(t, "queued", late.Status)
	waitMessage(t, shop, late.ID, hasStatus("sent"))
	clock.Advance(31 * time.Minute)
	nextMorning := morning.Add(24 * time.Hour)
	m = waitMessage(t, shop, late.ID, func(m *client.Message) bool {
		return len(m.Attempts) == 1 && m.Attempts[0].FailoverReason == "no_receipt" &&
			m.NextAttemptAt != nil && m.NextAttemptAt.Equal(nextMorning)
	})
	require.Equal(t, "sent", m.Status, "a message already handed over stays sent while it waits")
	clock.Set(nextMorning.Add(time.Second))
	m = waitMessage(t, shop, late.ID, hasStatus("delivered"))
	require.Equal(t, "sms", m.Channel)
	require.False(t, m.Attempts[1].StartedAt.Before(nextMorning), "SMS went out after the window")
}

// TestScheduleSurvivesRestart: a scheduled message is a row: a gateway
// restarted on the same SQLite file sends it when its time comes.
func TestScheduleSurvivesRestart(t *testing.T) {
	t.Parallel()
	dsn := filepath.Join(t.TempDir(), "sb.db")
	clock := &testClock{}
	base, stop := runClocked(t, dsn, clock)
	at := clock.Now().Add(time.Hour)
	sent, err := client.New(base, sendKey).Send(t.Context(), &client.SendRequest{
		To: client.Recipient{Phone: "+15551230301"}, Body: "Later", Policy: "otp", SendAt: at}, "")
	require.NoError(t, err)
	require.Equal(t, "scheduled", sent.Status)
	stop()

	base, stop = runClocked(t, dsn, clock)
	defer stop()
	c := client.New(base, sendKey)
	m, err := c.Get(t.Context(), sent.ID)
	require.NoError(t, err)
	require.Equal(t, "scheduled", m.Status)
	clock.Advance(time.Hour + time.Second)
	waitMessage(t, c, sent.ID, hasStatus("delivered"))
}
