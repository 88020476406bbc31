package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
)

const (
	twilioSID   = "AC0123456789abcdef0123456789abcdef"
	twilioToken = "twilioAuthTokenForTests0123456789"
	metaSecret  = "meta-app-secret-for-tests"
)

// fakeTwilio accepts every message (201 with a fresh SID) and never calls
// back: the callbacks come from the test, signed as Twilio signs them.
func fakeTwilio(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet { // account fetch: the probe
			fmt.Fprintf(w, `{"sid":%q,"status":"active"}`, twilioSID)
			return
		}
		require.NoError(t, r.ParseForm())
		sid := fmt.Sprintf("SM%032d", n.Add(1))
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sid":%q,"status":"queued","to":%q,"from":%q,"body":%q}`, sid, r.Form.Get("To"), r.Form.Get("From"), r.Form.Get("Body"))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// fakeGraph accepts every WhatsApp Cloud message with a fresh wamid.
func fakeGraph(t *testing.T) *httptest.Server {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			fmt.Fprint(w, `{"id":"1234567890","display_phone_number":"+1 555 0100"}`)
			return
		}
		fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":"15551234567","wa_id":"15551234567"}],"messages":[{"id":"wamid.%d"}]}`, n.Add(1))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func twilioSignature(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(form.Get(k))
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func setupProviders(t *testing.T) *testBundle {
	t.Helper()
	tw, _ := fakeTwilio(t)
	graph := fakeGraph(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + ln.Addr().String()
	yaml := fmt.Sprintf(`
server: {public_url: %q}
store: {dsn: %q}
auth:
  keys:
    - {name: shop, key: %s, role: send}
    - {name: support, key: %s, role: read}
channels:
  whatsapp: {type: twilio-whatsapp, account_sid: %s, auth_token: %s, from: "+14155238886", endpoint: %q, probe: {interval: 1h}}
  sms:      {type: twilio-sms, account_sid: %s, auth_token: %s, from: "+15005550006", endpoint: %q, probe: {interval: 1h}}
  wacloud:  {type: whatsapp-cloud, phone_number_id: "1234567890", token: graph-token-for-tests, app_secret: %s, verify_token: verify-me-please, endpoint: %q, probe: {interval: 1h}}
policies:
  - name: otp
    route: [whatsapp, sms]
    receipt_timeout: {whatsapp: 300ms, sms: 1h}
  - name: cloud
    route: [wacloud, sms]
    receipt_timeout: {wacloud: 1h}
`, base, filepath.Join(t.TempDir(), "sb.db"), sendKey, readKey,
		twilioSID, twilioToken, tw.URL, twilioSID, twilioToken, tw.URL, metaSecret, graph.URL)
	cfg, err := config.Parse("providers.yaml", []byte(yaml))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return &testBundle{base: base, http: &http.Client{Timeout: 10 * time.Second}}
}

func (tb *testBundle) twilioCallback(t *testing.T, channel, sid, status, token string) response {
	t.Helper()
	form := url.Values{"MessageSid": {sid}, "MessageStatus": {status}, "AccountSid": {twilioSID}}
	if status == "undelivered" {
		form.Set("ErrorCode", "30003")
	}
	full := tb.base + "/v1/webhooks/twilio?channel=" + channel
	req, err := http.NewRequest("POST", full, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilioSignature(token, full, form))
	resp, err := tb.http.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return response{status: resp.StatusCode}
}

func attemptsOf(r response) []map[string]any {
	var out []map[string]any
	list, _ := r.body["attempts"].([]any)
	for _, a := range list {
		out = append(out, a.(map[string]any))
	}
	return out
}

func waitFor(t *testing.T, tb *testBundle, id string, cond func(response) bool) response {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := tb.do(t, "GET", "/v1/messages/"+id, readKey, "")
		require.Equal(t, 200, r.status)
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached: %s", r.raw)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTwilioReceiptsDriveTheStateMachine(t *testing.T) {
	t.Parallel()
	tb := setupProviders(t)
	msg := `{"to":{"whatsapp":"+15551234567","phone":"+15551234567"},"body":"Your code is 123456","policy":"otp"}`

	// 1. Delivered receipt on the primary cancels the no_receipt deadline.
	id := tb.do(t, "POST", "/v1/messages", sendKey, msg).body["id"].(string)
	r := waitFor(t, tb, id, func(r response) bool { return r.body["status"] == "sent" })
	sid := attemptsOf(r)[0]["provider_id"].(string)
	require.True(t, strings.HasPrefix(sid, "SM"))
	// A forged callback is refused and changes nothing.
	require.Equal(t, 403, tb.twilioCallback(t, "whatsapp", sid, "delivered", "not-the-token").status)
	require.Equal(t, 200, tb.twilioCallback(t, "whatsapp", sid, "delivered", twilioToken).status)
	r = waitFor(t, tb, id, func(r response) bool { return r.body["status"] == "delivered" })
	require.Equal(t, "whatsapp", r.body["channel"])
	require.Len(t, attemptsOf(r), 1, "delivered in time: no failover")
	time.Sleep(400 * time.Millisecond) // past the 300ms deadline
	r = tb.do(t, "GET", "/v1/messages/"+id, readKey, "")
	require.Len(t, attemptsOf(r), 1, "the deadline was cancelled by the receipt")

	// 2. Silence: the deadline passes, the message fails over to SMS; then
	// WhatsApp's delivered receipt arrives late and SMS's too: duplicate.
	id = tb.do(t, "POST", "/v1/messages", sendKey, msg).body["id"].(string)
	r = waitFor(t, tb, id, func(r response) bool { return len(attemptsOf(r)) == 2 && attemptsOf(r)[1]["status"] == "sent" })
	as := attemptsOf(r)
	require.Equal(t, "no_receipt", as[0]["failover_reason"])
	require.Equal(t, "sms", as[1]["channel"])
	waSID, smsSID := as[0]["provider_id"].(string), as[1]["provider_id"].(string)

	require.Equal(t, 200, tb.twilioCallback(t, "whatsapp", waSID, "delivered", twilioToken).status)
	r = waitFor(t, tb, id, func(r response) bool { return r.body["status"] == "delivered" })
	require.Equal(t, "whatsapp", r.body["channel"])
	require.Equal(t, true, attemptsOf(r)[0]["late"])
	require.Equal(t, false, r.body["duplicate"])

	require.Equal(t, 200, tb.twilioCallback(t, "sms", smsSID, "delivered", twilioToken).status)
	r = waitFor(t, tb, id, func(r response) bool { return r.body["duplicate"] == true })
	require.Equal(t, "delivered", r.body["status"], "status never moves backwards")

	// 3. Undelivered on the primary fails over at once (trigger undelivered).
	id = tb.do(t, "POST", "/v1/messages", sendKey, strings.Replace(msg, "otp", "otp", 1)).body["id"].(string)
	r = waitFor(t, tb, id, func(r response) bool { return r.body["status"] == "sent" })
	sid = attemptsOf(r)[0]["provider_id"].(string)
	require.Equal(t, 200, tb.twilioCallback(t, "whatsapp", sid, "undelivered", twilioToken).status)
	r = waitFor(t, tb, id, func(r response) bool { return len(attemptsOf(r)) == 2 })
	as = attemptsOf(r)
	require.Equal(t, "undelivered", as[0]["status"])
	require.Equal(t, "undelivered", as[0]["failover_reason"])
	require.Equal(t, "sms", as[1]["channel"])

	// A callback for a channel that does not exist is a clear 404.
	resp, err := tb.http.Post(tb.base+"/v1/webhooks/twilio?channel=nope", "application/x-www-form-urlencoded", strings.NewReader("MessageSid=SM1"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 404, resp.StatusCode)
}

func TestWhatsAppCloudWebhooks(t *testing.T) {
	t.Parallel()
	tb := setupProviders(t)
	// Meta's subscription handshake.
	resp, err := tb.http.Get(tb.base + "/v1/webhooks/whatsapp-cloud?channel=wacloud&hub.mode=subscribe&hub.verify_token=verify-me-please&hub.challenge=1158201444")
	require.NoError(t, err)
	body := make([]byte, 64)
	n, _ := resp.Body.Read(body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "1158201444", string(body[:n]))
	resp, err = tb.http.Get(tb.base + "/v1/webhooks/whatsapp-cloud?channel=wacloud&hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 403, resp.StatusCode)

	id := tb.do(t, "POST", "/v1/messages", sendKey, `{"to":{"whatsapp":"+15551234567"},"body":"hi","policy":"cloud"}`).body["id"].(string)
	r := waitFor(t, tb, id, func(r response) bool { return r.body["status"] == "sent" })
	wamid := attemptsOf(r)[0]["provider_id"].(string)
	payload := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550100","phone_number_id":"1234567890"},"statuses":[{"id":%q,"status":"delivered","timestamp":"%d","recipient_id":"15551234567"}]}}]}]}`, wamid, time.Now().Unix())
	post := func(sig string) int {
		req, err := http.NewRequest("POST", tb.base+"/v1/webhooks/whatsapp-cloud?channel=wacloud", strings.NewReader(payload))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if sig != "" {
			req.Header.Set("X-Hub-Signature-256", sig)
		}
		resp, err := tb.http.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	mac := hmac.New(sha256.New, []byte(metaSecret))
	mac.Write([]byte(payload))
	good := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	require.Equal(t, 403, post(""))
	require.Equal(t, 403, post("sha256="+strings.Repeat("0", 64)))
	require.Equal(t, 200, post(good))
	r = waitFor(t, tb, id, func(r response) bool { return r.body["status"] == "delivered" })
	require.Equal(t, "wacloud", r.body["channel"])
}
