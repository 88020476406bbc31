package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"

	sbclient "github.com/switchboard-gw/switchboard/client"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/sqlite"
)

const (
	inboundSecret  = "whsec_inbound_for_tests_0123456789"
	telegramToken  = "123456789:AAHtelegram-token_for_tests"
	telegramSecret = "tg_webhook_secret-for-tests"
)

// suppressions is the suppression list, kept in memory, that the test
// store adds to the SQLite store: the inbound path uses it through the
// gateway as it will use the store's own.
type suppressions struct {
	mu    sync.Mutex
	calls []string // "suppress ADDRESS KIND REASON SOURCE", "unsuppress ADDRESS KIND"
}

func (s *suppressions) Suppress(_ context.Context, sp store.Suppression) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, fmt.Sprintf("suppress %s %s %s %s", sp.Address, sp.Kind, sp.Reason, sp.Source))
	return nil
}

func (s *suppressions) Unsuppress(_ context.Context, address, kind string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, fmt.Sprintf("unsuppress %s %s", address, kind))
	return true, nil
}

func (s *suppressions) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.calls
	s.calls = nil
	return out
}

type suppressingStore struct {
	store.Store
	*suppressions
}

// appHook is the app's inbound callback endpoint: it answers 500 to the
// first POST of each inbound message and 200 after.
type appHook struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []appCall
	seen map[string]int
}

type appCall struct {
	payload   map[string]any
	body      []byte
	signature string
	answered  int
}

func newAppHook(t *testing.T) *appHook {
	h := &appHook{seen: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p map[string]any
		if json.Unmarshal(body, &p) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		id, _ := p["id"].(string)
		h.seen[id]++
		code := http.StatusOK
		if h.seen[id] == 1 {
			code = http.StatusInternalServerError
		}
		h.got = append(h.got, appCall{payload: p, body: body, signature: r.Header.Get(sbclient.SignatureHeader), answered: code})
		h.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *appHook) waitCalls(t *testing.T, id string, n int) []appCall {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		var out []appCall
		for _, c := range h.got {
			if c.payload["id"] == id {
				out = append(out, c)
			}
		}
		h.mu.Unlock()
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("inbound %s: %d callback POSTs, want %d", id, len(out), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type inboundBundle struct {
	*testBundle
	sup  *suppressions // nil: the store keeps no suppression list
	hook *appHook
}

// setupInbound runs a gateway with Twilio SMS and WhatsApp, WhatsApp
// Cloud and Telegram channels and inbound callbacks to a loopback app.
func setupInbound(t *testing.T, withSuppressions bool) *inboundBundle {
	t.Helper()
	tw, _ := fakeTwilio(t)
	graph := fakeGraph(t)
	hook := newAppHook(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + ln.Addr().String()
	yaml := fmt.Sprintf(`
server: {public_url: %q}
auth:
  keys:
    - {name: shop, key: %s, role: send}
    - {name: support, key: %s, role: read}
    - {name: ops, key: %s, role: admin}
channels:
  whatsapp: {type: twilio-whatsapp, account_sid: %s, auth_token: %s, from: "+14155238886", endpoint: %q, probe: {interval: 1h}}
  sms:      {type: twilio-sms, account_sid: %s, auth_token: %s, from: "+15005550006", endpoint: %q, probe: {interval: 1h}}
  wacloud:  {type: whatsapp-cloud, phone_number_id: "1234567890", token: graph-token-for-tests, app_secret: %s, verify_token: verify-me-please, endpoint: %q, probe: {interval: 1h}}
  tg:       {type: telegram, token: %q, webhook_secret: %s, endpoint: "http://127.0.0.1:1", probe: {interval: 1h}}
policies:
  - name: otp
    route: [whatsapp, sms]
callbacks: {allow_hosts: [127.0.0.1/32]}
inbound: {callback_url: %q, callback_secret: "${SB_TEST_INBOUND_SECRET}"}
`, base, sendKey, readKey, adminKey, twilioSID, twilioToken, tw.URL, twilioSID, twilioToken, tw.URL, metaSecret, graph.URL,
		telegramToken, telegramSecret, hook.srv.URL+"/switchboard/inbound")
	cfg, err := config.ParseWithEnv("inbound.yaml", []byte(yaml), func(k string) (string, bool) {
		if k == "SB_TEST_INBOUND_SECRET" {
			return inboundSecret, true
		}
		return "", false
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sb.db"))
	require.NoError(t, err)
	ib := &inboundBundle{hook: hook}
	var gst store.Store = st
	if withSuppressions {
		ib.sup = &suppressions{}
		gst = suppressingStore{Store: st, suppressions: ib.sup}
	}
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler), Store: gst})
	require.NoError(t, err)
	g.Callbacks.FirstRetry = 10 * time.Millisecond
	g.Callbacks.Poll = 10 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		_ = st.Close()
	})
	ib.testBundle = &testBundle{base: base, http: &http.Client{Timeout: 10 * time.Second}}
	return ib
}

// post sends a provider webhook and returns its status and body.
func (ib *inboundBundle) post(t *testing.T, path, contentType, body string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ib.base+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ib.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// twilioIncoming is Twilio's incoming message webhook as its
// documentation lists the parameters; WhatsApp adds the "whatsapp:"
// prefix, WaId and ProfileName.
func twilioIncoming(sid, from, body string, whatsapp bool) url.Values {
	f := url.Values{
		"MessageSid": {sid}, "SmsSid": {sid}, "SmsMessageSid": {sid}, "AccountSid": {twilioSID},
		"From": {from}, "To": {"+15005550006"}, "Body": {body}, "NumMedia": {"0"}, "NumSegments": {"1"},
		"SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"},
	}
	if whatsapp {
		f.Set("From", "whatsapp:"+from)
		f.Set("To", "whatsapp:+14155238886")
		f.Set("WaId", strings.TrimPrefix(from, "+"))
		f.Set("ProfileName", "Ana")
	}
	return f
}

// twilio posts an incoming message webhook for channel, signed with
// token; the signature is checked with twilio-go's validator first.
func (ib *inboundBundle) twilio(t *testing.T, channel string, form url.Values, token string) (int, string, http.Header) {
	t.Helper()
	full := ib.base + "/v1/webhooks/twilio?channel=" + channel
	sig := twilioSignature(token, full, form)
	if token == twilioToken {
		params := map[string]string{}
		for k := range form {
			params[k] = form.Get(k)
		}
		v := client.NewRequestValidator(twilioToken)
		require.True(t, v.Validate(full, params, sig), "signed as twilio-go validates")
	}
	return ib.post(t, "/v1/webhooks/twilio?channel="+channel, "application/x-www-form-urlencoded", form.Encode(), "X-Twilio-Signature", sig)
}

func cloudMessage(wamid, from, text, contextID string) string {
	ctx := ""
	if contextID != "" {
		ctx = fmt.Sprintf(`,"context":{"from":"15550100","id":%q}`, contextID)
	}
	return fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550100","phone_number_id":"1234567890"},"contacts":[{"profile":{"name":"Ana"},"wa_id":%q}],"messages":[{"from":%q,"id":%q,"timestamp":"%d","type":"text","text":{"body":%q}%s}]}}]}]}`,
		strings.TrimPrefix(from, "+"), strings.TrimPrefix(from, "+"), wamid, time.Now().Unix(), text, ctx)
}

func (ib *inboundBundle) cloud(t *testing.T, body, secret string) int {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	code, _, _ := ib.post(t, "/v1/webhooks/whatsapp-cloud?channel=wacloud", "application/json", body, "X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	return code
}

func telegramUpdate(chat int64, msgID int, text string, replyTo int) string {
	reply := ""
	if replyTo > 0 {
		reply = fmt.Sprintf(`,"reply_to_message":{"message_id":%d,"chat":{"id":%d,"type":"private"},"text":"Your code"}`, replyTo, chat)
	}
	return fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":%d,"from":{"id":%d,"is_bot":false,"first_name":"Ana"},"chat":{"id":%d,"type":"private"},"text":%q%s}}`,
		msgID+1000, msgID, time.Now().Unix(), chat, chat, text, reply)
}

func (ib *inboundBundle) telegram(t *testing.T, body, secret string) int {
	t.Helper()
	var hdr []string
	if secret != "" {
		hdr = []string{"X-Telegram-Bot-Api-Secret-Token", secret}
	}
	code, _, _ := ib.post(t, "/v1/webhooks/telegram?channel=tg", "application/json", body, hdr...)
	return code
}

// inbound lists GET /v1/inbound with query q.
func (ib *inboundBundle) inbound(t *testing.T, q string) []map[string]any {
	t.Helper()
	r := ib.do(t, "GET", "/v1/inbound"+q, readKey, "")
	require.Equal(t, 200, r.status, r.raw)
	var out []map[string]any
	for _, m := range r.body["inbound"].([]any) {
		out = append(out, m.(map[string]any))
	}
	return out
}

func TestInboundWebhooksStoreAndApplyKeywords(t *testing.T) {
	t.Parallel()
	ib := setupInbound(t, true)

	tests := []struct {
		name    string
		channel string
		send    func(t *testing.T, text, id string, good bool) int
		from    string
		kind    string
	}{
		{name: "twilio sms", channel: "sms", from: "+15551230001", kind: "sms",
			send: func(t *testing.T, text, id string, good bool) int {
				token := twilioToken
				if !good {
					token = "not-the-auth-token-0123456789abc"
				}
				code, body, hdr := ib.twilio(t, "sms", twilioIncoming("SM"+id, "+15551230001", text, false), token)
				if good {
					require.Equal(t, `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`, body, "empty TwiML")
					require.Contains(t, hdr.Get("Content-Type"), "text/xml")
				}
				return code
			}},
		{name: "twilio whatsapp", channel: "whatsapp", from: "+15551230002", kind: "whatsapp",
			send: func(t *testing.T, text, id string, good bool) int {
				token := twilioToken
				if !good {
					token = "not-the-auth-token-0123456789abc"
				}
				code, _, _ := ib.twilio(t, "whatsapp", twilioIncoming("SM"+id, "+15551230002", text, true), token)
				return code
			}},
		{name: "whatsapp cloud", channel: "wacloud", from: "+15551230003", kind: "whatsapp",
			send: func(t *testing.T, text, id string, good bool) int {
				secret := metaSecret
				if !good {
					secret = "not-the-app-secret"
				}
				return ib.cloud(t, cloudMessage("wamid."+id, "+15551230003", text, ""), secret)
			}},
		{name: "telegram", channel: "tg", from: "4242", kind: "telegram",
			send: func(t *testing.T, text, id string, good bool) int {
				secret := telegramSecret
				if !good {
					secret = ""
				}
				n := 0
				fmt.Sscanf(id, "%d", &n)
				return ib.telegram(t, telegramUpdate(4242, n, text, 0), secret)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the suppression calls are read in order.
			require.Equal(t, 403, tt.send(t, "STOP", "1", false), "a bad signature is refused")
			require.Empty(t, ib.inbound(t, "?channel="+tt.channel), "and stores nothing")
			require.Empty(t, ib.sup.take(), "and suppresses nothing")

			require.Equal(t, 200, tt.send(t, "Yes, 3pm works", "1", true))
			require.Equal(t, 200, tt.send(t, " stop ", "2", true))
			require.Equal(t, 200, tt.send(t, " stop ", "2", true), "the provider's retry")
			require.Equal(t, 200, tt.send(t, "Start", "3", true))
			require.Equal(t, []string{
				"suppress " + tt.from + " " + tt.kind + " STOP inbound",
				"suppress " + tt.from + " " + tt.kind + " STOP inbound", // the retry applies it again: idempotent
				"unsuppress " + tt.from + " " + tt.kind,
			}, ib.sup.take())

			got := ib.inbound(t, "?channel="+tt.channel)
			require.Len(t, got, 3, "every message stored once, keywords too")
			require.Equal(t, []any{"Start", " stop ", "Yes, 3pm works"}, []any{got[0]["text"], got[1]["text"], got[2]["text"]})
			for _, m := range got {
				require.Equal(t, tt.from, m["from"])
				require.Equal(t, tt.kind, m["kind"])
				require.Equal(t, tt.channel, m["channel"])
			}
		})
	}
}

func TestInboundStoredWithoutSuppressionList(t *testing.T) {
	t.Parallel()
	ib := setupInbound(t, false)
	code, _, _ := ib.twilio(t, "sms", twilioIncoming("SM77", "+15551230009", "STOP", false), twilioToken)
	require.Equal(t, 200, code)
	got := ib.inbound(t, "")
	require.Len(t, got, 1)
	require.Equal(t, "STOP", got[0]["text"])
}

func TestInboundReplyAndCallback(t *testing.T) {
	t.Parallel()
	ib := setupInbound(t, true)

	// An OTP goes out on Twilio WhatsApp; the customer replies to it.
	id := ib.do(t, "POST", "/v1/messages", sendKey, `{"to":{"whatsapp":"+15551234567"},"body":"Your code is 123456","policy":"otp"}`).body["id"].(string)
	r := waitFor(t, ib.testBundle, id, func(r response) bool { return r.body["status"] == "sent" })
	sid := attemptsOf(r)[0]["provider_id"].(string)
	form := twilioIncoming("SM0000000000000000000000000000reply", "+15551234567", "Thanks, got it", true)
	form.Set("OriginalRepliedMessageSender", "whatsapp:+14155238886")
	form.Set("OriginalRepliedMessageSid", sid)
	code, _, _ := ib.twilio(t, "whatsapp", form, twilioToken)
	require.Equal(t, 200, code)

	got := ib.inbound(t, "?from=%2B15551234567")
	require.Len(t, got, 1)
	in := got[0]
	require.Equal(t, id, in["reply_to"], "the replied-to message, resolved from the provider's id")

	// The app gets it signed with inbound.callback_secret, retried after
	// its 500.
	calls := ib.hook.waitCalls(t, in["id"].(string), 2)
	require.Equal(t, []int{500, 200}, []int{calls[0].answered, calls[1].answered})
	for _, c := range calls {
		require.NoError(t, sbclient.VerifySignature(inboundSecret, c.signature, c.body, time.Minute, time.Now()))
		require.Error(t, sbclient.VerifySignature("some-other-secret-0123456789", c.signature, c.body, time.Minute, time.Now()))
	}
	p := calls[1].payload
	require.Equal(t, map[string]any{
		"type": "inbound", "id": in["id"], "channel": "whatsapp", "kind": "whatsapp", "from": "+15551234567",
		"to": "+14155238886", "text": "Thanks, got it", "provider_id": "SM0000000000000000000000000000reply",
		"reply_to": id, "received_at": in["received_at"],
	}, p)

	// The callback body and the list are what api/openapi.json documents.
	doc := loadSpec(t)
	cbSchema := doc.Webhooks["inboundMessage"].Post.RequestBody.Value.Content.Get("application/json").Schema.Value
	var body any
	require.NoError(t, json.Unmarshal(calls[1].body, &body))
	require.NoError(t, cbSchema.VisitJSON(body, openapi3.EnableJSONSchema2020()))
	sigParam := doc.Webhooks["inboundMessage"].Post.Parameters.GetByInAndName("header", sbclient.SignatureHeader)
	require.NoError(t, sigParam.Schema.Value.VisitJSON(calls[1].signature, openapi3.EnableJSONSchema2020()))
	list := ib.do(t, "GET", "/v1/inbound", readKey, "")
	var listBody any
	require.NoError(t, json.Unmarshal([]byte(list.raw), &listBody))
	require.NoError(t, doc.Components.Schemas["InboundList"].Value.VisitJSON(listBody, openapi3.EnableJSONSchema2020()))

	// WhatsApp Cloud's context.id and Telegram's reply_to_message name
	// messages this gateway did not send here: no reply_to.
	require.Equal(t, 200, ib.cloud(t, cloudMessage("wamid.X", "+15551234567", "hi", "wamid.unknown"), metaSecret))
	require.Equal(t, 200, ib.telegram(t, telegramUpdate(4242, 9, "hi", 5), telegramSecret))
	for _, ch := range []string{"wacloud", "tg"} {
		got := ib.inbound(t, "?channel="+ch)
		require.Len(t, got, 1)
		require.Nil(t, got[0]["reply_to"])
	}
}

func TestInboundList(t *testing.T) {
	t.Parallel()
	ib := setupInbound(t, true)
	for i := range 5 {
		from := "+15551230001"
		if i%2 == 1 {
			from = "+15551230002"
		}
		code, _, _ := ib.twilio(t, "sms", twilioIncoming(fmt.Sprintf("SM%032d", i), from, fmt.Sprintf("m%d", i), false), twilioToken)
		require.Equal(t, 200, code)
	}
	var texts []any
	cursor := ""
	for page := 0; ; page++ {
		require.Less(t, page, 5)
		r := ib.do(t, "GET", "/v1/inbound?limit=2"+cursor, readKey, "")
		require.Equal(t, 200, r.status)
		for _, m := range r.body["inbound"].([]any) {
			texts = append(texts, m.(map[string]any)["text"])
		}
		next, _ := r.body["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = "&cursor=" + url.QueryEscape(next)
	}
	require.Equal(t, []any{"m4", "m3", "m2", "m1", "m0"}, texts, "newest first, two a page")

	// The Go client pages the same way.
	c := sbclient.New(ib.base, readKey)
	var viaClient []string
	for m, err := range c.Inbound(t.Context(), sbclient.InboundParams{Channel: "sms", Limit: 2}) {
		require.NoError(t, err)
		require.Equal(t, "sms", m.Kind)
		viaClient = append(viaClient, m.Text)
	}
	require.Equal(t, []string{"m4", "m3", "m2", "m1", "m0"}, viaClient)
	page, err := c.InboundPage(t.Context(), sbclient.InboundParams{From: "+15551230002", Since: time.Now().Add(-time.Hour)})
	require.NoError(t, err)
	require.Len(t, page.Inbound, 2)
	_, err = sbclient.New(ib.base, sendKey).InboundPage(t.Context(), sbclient.InboundParams{})
	var apiErr *sbclient.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 403, apiErr.StatusCode)
	require.Len(t, ib.inbound(t, "?from=%2B15551230002"), 2)
	require.Len(t, ib.inbound(t, "?channel=whatsapp"), 0)
	require.Len(t, ib.inbound(t, "?since="+url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))), 5)
	require.Len(t, ib.inbound(t, "?since="+url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))), 0)

	require.Equal(t, 200, ib.do(t, "GET", "/v1/inbound", adminKey, "").status)
	require.Equal(t, 403, ib.do(t, "GET", "/v1/inbound", sendKey, "").status, "a send key cannot read customers' messages")
	require.Equal(t, 401, ib.do(t, "GET", "/v1/inbound", "", "").status)
	for q, field := range map[string]string{"?limit=0": "limit", "?limit=x": "limit", "?cursor=%25%25": "cursor", "?since=yesterday": "since"} {
		r := ib.do(t, "GET", "/v1/inbound"+q, readKey, "")
		require.Equal(t, 400, r.status, q)
		code, f := errField(r)
		require.Equal(t, "invalid_query", code, q)
		require.Equal(t, field, f, q)
	}
}
