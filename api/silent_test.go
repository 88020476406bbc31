package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
)

// silentConfig: WhatsApp starts in blackhole mode (accepts, never
// delivers). Its receipt breaker judges after 3 sends and recovers after 2
// canaries; every other message that skips it is a canary.
const silentConfig = `
server: {listen: "127.0.0.1:0"}
store: {driver: sqlite, dsn: "%DSN%"}
auth:
  keys:
    - {name: shop, key: ` + sendKey + `, role: send}
    - {name: support, key: ` + readKey + `, role: read}
    - {name: ops, key: ` + adminKey + `, role: admin}
dispatch: {poll: 20ms}
channels:
  whatsapp:
    type: sim
    kind: whatsapp
    mode: blackhole
    receipt_delay: 5ms
    probe: {interval: 1h}
    receipts: {min_sends: 3, canary_ratio: 0.5, recover_after: 2}
  sms: {type: sim, kind: sms, receipt_delay: 5ms, probe: {interval: 1h}}
  email: {type: sim, kind: email, receipt_delay: 5ms, probe: {interval: 1h}}
policies:
  - name: otp
    route: [whatsapp, sms]
    receipt_timeout: {whatsapp: 2s}
    ttl: 10m
  - name: default
    route: [email]
`

// TestSilentOutageGateway runs a whole gateway through a silent WhatsApp
// outage: the first messages wait out their receipt deadline and fail over
// to SMS, which makes WhatsApp silent; new messages then go straight to
// SMS; when WhatsApp delivers again its canaries bring it back.
func TestSilentOutageGateway(t *testing.T) {
	t.Parallel()
	dsn := filepath.Join(t.TempDir(), "sb.db")
	cfg, err := config.Parse("silent.yaml", []byte(strings.ReplaceAll(silentConfig, "%DSN%", dsn)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	base := "http://" + ln.Addr().String()
	tb := &testBundle{base: base, http: &http.Client{Timeout: 10 * time.Second}}
	doc := loadSpec(t)
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := gorillamux.NewRouter(doc)
	require.NoError(t, err)
	sc := &specClient{t: t, base: base, router: router, http: tb.http, seen: map[string]bool{}}

	send := func(name string) string {
		t.Helper()
		number := "+1555" + strings.Repeat("0", 7-len(name)) + name // a possible US number
		r := tb.do(t, "POST", "/v1/messages", sendKey, fmt.Sprintf(
			`{"to":{"whatsapp":"%s","phone":"%s"},"body":"code","policy":"otp"}`, number, number))
		require.Equal(t, 202, r.status, r.raw)
		return r.body["id"].(string)
	}
	whatsapp := func() map[string]any {
		t.Helper()
		// Validated against the OpenAPI document at every read.
		r := sc.do(call{method: "GET", path: "/v1/channels", key: readKey, want: 200})
		for _, c := range r.body["channels"].([]any) {
			if c := c.(map[string]any); c["name"] == "whatsapp" {
				return c
			}
		}
		t.Fatal("no whatsapp channel")
		return nil
	}
	attempts := func(r response) []map[string]any {
		var out []map[string]any
		for _, a := range r.body["attempts"].([]any) {
			out = append(out, a.(map[string]any))
		}
		return out
	}

	// Healthy to begin with: the receipts block is there (the otp policy
	// waits on WhatsApp receipts), email has none.
	w := whatsapp()
	require.Equal(t, "healthy", w["state"])
	require.NotNil(t, w["receipts"])
	require.Nil(t, w["silent_since"])

	// 1. Three messages into the black hole: each waits out its 2s
	// deadline and fails over (no_receipt); the third miss makes WhatsApp
	// silent.
	var first []string
	for i := range 3 {
		first = append(first, send(fmt.Sprintf("1%d", i)))
	}
	for _, id := range first {
		r := waitStatus(t, tb, id, "delivered")
		as := attempts(r)
		require.Equal(t, "whatsapp", as[0]["channel"])
		require.Equal(t, "no_receipt", as[0]["failover_reason"])
		require.Equal(t, "sms", r.body["channel"])
	}
	deadline := time.Now().Add(10 * time.Second)
	for w = whatsapp(); w["state"] != "silent"; w = whatsapp() {
		require.True(t, time.Now().Before(deadline), "whatsapp never went silent: %v", w)
		time.Sleep(20 * time.Millisecond)
	}
	require.NotEmpty(t, w["silent_since"])
	rec := w["receipts"].(map[string]any)
	require.EqualValues(t, 3, rec["sends"])
	require.EqualValues(t, 0, rec["confirmed"])
	require.EqualValues(t, 0, rec["ratio"])

	raw := scrape(t, tb)
	require.Contains(t, raw, `switchboard_channel_state{channel="whatsapp",state="silent"} 1`)
	require.Contains(t, raw, `switchboard_channel_receipt_confirmed_ratio{channel="whatsapp"} 0`)

	// 2. A new message goes straight to SMS: WhatsApp is skipped, silent.
	r := waitStatus(t, tb, send("20"), "delivered")
	as := attempts(r)
	require.Equal(t, "whatsapp", as[0]["channel"])
	require.Equal(t, "skipped", as[0]["status"])
	require.Equal(t, "silent", as[0]["failover_reason"])
	require.Equal(t, "WhatsApp is accepting messages but not delivering them", as[0]["error"])
	require.Equal(t, "sms", as[1]["channel"])

	// Explain agrees.
	ex := tb.do(t, "POST", "/v1/routes/explain", sendKey, `{"to":{"whatsapp":"+15550000001","phone":"+15550000001"},"body":"x","policy":"otp"}`)
	require.Equal(t, 200, ex.status, ex.raw)
	require.Equal(t, "sms", ex.body["channel"])
	require.Equal(t, "silent", ex.body["channels"].([]any)[0].(map[string]any)["reason"])

	// 3. WhatsApp delivers again: every other message is a canary, sent
	// through WhatsApp beside its SMS fallback; two confirmed canaries in
	// a row make it healthy.
	tb.do(t, "POST", "/v1/channels/whatsapp/sim", adminKey, `{"mode":"up"}`)
	canaries := 0
	for i := 0; whatsapp()["state"] == "silent"; i++ {
		require.Less(t, i, 20, "whatsapp never recovered: %v", whatsapp())
		id := send(fmt.Sprintf("3%02d", i))
		r := waitStatus(t, tb, id, "delivered")
		if as := attempts(r); as[0]["failover_reason"] == "canary" {
			canaries++
			require.True(t, strings.HasPrefix(as[0]["info"].(string), "canary"), "info: %v", as[0]["info"])
			require.Equal(t, "sms", as[1]["channel"], "the fallback went in the same step")
		}
		// Let the canary's receipt (5ms) land before looking again.
		waitFor(t, tb, id, func(r response) bool {
			for _, a := range attempts(r) {
				if a["failover_reason"] == "canary" && a["status"] == "sent" {
					return false
				}
			}
			return true
		})
	}
	require.GreaterOrEqual(t, canaries, 2)
	w = whatsapp()
	require.Equal(t, "healthy", w["state"])
	require.Nil(t, w["silent_since"])
	require.NotEmpty(t, w["receipts"].(map[string]any)["recovered_at"])

	// 4. Healthy again: WhatsApp first.
	r = waitStatus(t, tb, send("40"), "delivered")
	require.Equal(t, "whatsapp", r.body["channel"])
	require.Len(t, attempts(r), 1)
}

func scrape(t *testing.T, tb *testBundle) string {
	t.Helper()
	resp, err := tb.http.Get(tb.base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
