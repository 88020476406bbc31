package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
)

const (
	sendKey  = "test-send-key-0123456789"
	readKey  = "test-read-key-0123456789"
	adminKey = "test-admin-key-0123456789"
)

const testConfig = `
server: {listen: "127.0.0.1:0", max_body_bytes: 4096}
store: {driver: sqlite, dsn: "%DSN%"}
auth:
  keys:
    - {name: shop, key: ` + sendKey + `, role: send}
    - {name: support, key: ` + readKey + `, role: read}
    - {name: ops, key: ` + adminKey + `, role: admin}
channels:
  whatsapp: {type: sim, kind: whatsapp, receipt_delay: 5ms, probe: {interval: 1h}, cost: {per_message: 0.005, currency: USD}, budget: {per_day: 1000, currency: USD}}
  sms:      {type: sim, kind: sms, receipt_delay: 5ms, probe: {interval: 1h}}
  email:    {type: sim, kind: email, receipt_delay: 5ms, probe: {interval: 1h}}
policies:
  - name: otp
    match: {tags: [otp]}
    route: [whatsapp, sms, email]
    ttl: 10m
  - name: default
    route: [whatsapp, email]
  - name: capped
    route: [sms]
    limits: {per_recipient: "1/h"}
    countries: {allow: [US]}
`

type testBundle struct {
	base string
	http *http.Client
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return setupYAML(t, testConfig)
}

// setupYAML is setup with another config (testConfig, edited).
func setupYAML(t *testing.T, yml string) *testBundle {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "sb.db")
	cfg, err := config.Parse("test.yaml", []byte(strings.ReplaceAll(yml, "%DSN%", dsn)))
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
	return &testBundle{base: "http://" + ln.Addr().String(), http: &http.Client{Timeout: 10 * time.Second}}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (tb *testBundle) do(t *testing.T, method, path, key, body string, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, tb.base+path, rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := tb.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(data)}
	if len(data) > 0 {
		require.NoError(t, json.Unmarshal(data, &r.body), "every response is JSON: %s", data)
	}
	return r
}

func errField(r response) (code, field string) {
	e, _ := r.body["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

const otp = `{"to":{"whatsapp":"+15551234567","phone":"+15551234567"},"body":"Your code is 123456","tags":["otp"]}`

func TestAuthAndRoles(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	id := tb.do(t, "POST", "/v1/messages", sendKey, otp).body["id"].(string)
	tests := []struct {
		method, path, key, body string
		want                    int
	}{
		{"POST", "/v1/messages", "", otp, 401},
		{"POST", "/v1/messages", "wrong-key-wrong-key-wrong", otp, 401},
		{"POST", "/v1/messages", sendKey + "x", otp, 401},
		{"POST", "/v1/messages", readKey, otp, 403},
		{"POST", "/v1/messages", adminKey, otp, 202},
		{"GET", "/v1/messages/" + id, sendKey, "", 200},
		{"GET", "/v1/messages/" + id, readKey, "", 200},
		{"GET", "/v1/messages", sendKey, "", 403},
		{"GET", "/v1/messages", readKey, "", 200},
		{"GET", "/v1/channels", sendKey, "", 403},
		{"GET", "/v1/channels", readKey, "", 200},
		{"POST", "/v1/channels/sms/disable", readKey, "", 403},
		{"POST", "/v1/channels/sms/enable", adminKey, "", 200},
		{"POST", "/v1/channels/sms/sim", sendKey, `{"mode":"up"}`, 403},
		{"POST", "/v1/routes/explain", sendKey, otp, 200},
		{"GET", "/healthz", "", "", 200},
		{"GET", "/readyz", "", "", 200},
	}
	for _, tt := range tests {
		r := tb.do(t, tt.method, tt.path, tt.key, tt.body)
		require.Equal(t, tt.want, r.status, "%s %s with key %q: %s", tt.method, tt.path, tt.key, r.raw)
		if tt.want == 401 {
			require.NotEmpty(t, r.header.Get("WWW-Authenticate"))
			code, _ := errField(r)
			require.Equal(t, "unauthorized", code)
		}
	}
}

func TestSendValidationErrors(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tests := []struct {
		name, body string
		hdr        []string
		status     int
		code       string
		field      string
	}{
		{"unknown policy", `{"to":{"phone":"+15551234567"},"body":"hi","policy":"nope"}`, nil, 422, "unknown_policy", "policy"},
		{"no address for the route", `{"to":{"telegram":"12345"},"body":"hi"}`, nil, 422, "no_route", "to"},
		{"body too large", `{"to":{"phone":"+15551234567"},"body":"` + strings.Repeat("x", 5000) + `"}`, nil, 413, "body_too_large", ""},
		{"form content type", otp, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
		{"bad phone", `{"to":{"phone":"12"},"body":"hi"}`, nil, 422, "invalid_recipient", "to.phone"},
		{"unknown field", `{"to":{"phone":"+15551234567"},"body":"hi","prio":1}`, nil, 400, "unknown_field", "prio"},
		{"long idempotency key", otp, []string{"Idempotency-Key", strings.Repeat("k", 300)}, 400, "invalid_header", "Idempotency-Key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tb.do(t, "POST", "/v1/messages", sendKey, tt.body, tt.hdr...)
			require.Equal(t, tt.status, r.status, r.raw)
			code, field := errField(r)
			require.Equal(t, tt.code, code, r.raw)
			require.Equal(t, tt.field, field, r.raw)
		})
	}
}

func TestNotFoundAndMethodsAreJSON(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	r := tb.do(t, "GET", "/v1/messages/0193a7e0-0000-7000-8000-000000000000", readKey, "")
	require.Equal(t, 404, r.status)
	code, _ := errField(r)
	require.Equal(t, "not_found", code)
	r = tb.do(t, "GET", "/v1/messages/not-a-uuid", readKey, "")
	require.Equal(t, 404, r.status)
	r = tb.do(t, "GET", "/nope", "", "")
	require.Equal(t, 404, r.status)
	code, _ = errField(r)
	require.Equal(t, "not_found", code)
	r = tb.do(t, "POST", "/v1/channels/nope/disable", adminKey, "")
	require.Equal(t, 404, r.status)
	code, field := errField(r)
	require.Equal(t, "unknown_channel", code)
	require.Equal(t, "name", field)
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	first := tb.do(t, "POST", "/v1/messages", sendKey, otp, "Idempotency-Key", "order-42")
	require.Equal(t, 202, first.status)
	require.Empty(t, first.header.Get("Idempotent-Replay"))

	// Same meaning, other formatting: a replay.
	again := tb.do(t, "POST", "/v1/messages", sendKey, " "+otp+"\n", "Idempotency-Key", "order-42")
	require.Equal(t, 202, again.status)
	require.Equal(t, "true", again.header.Get("Idempotent-Replay"))
	require.Equal(t, first.body, again.body)

	other := tb.do(t, "POST", "/v1/messages", sendKey, strings.Replace(otp, "code is 123456", "code is 999999", 1), "Idempotency-Key", "order-42")
	require.Equal(t, 422, other.status)
	code, field := errField(other)
	require.Equal(t, "idempotency_mismatch", code)
	require.Equal(t, "Idempotency-Key", field)

	// Keys are scoped per API key: another app's "order-42" is its own.
	admin := tb.do(t, "POST", "/v1/messages", adminKey, otp, "Idempotency-Key", "order-42")
	require.Equal(t, 202, admin.status)
	require.NotEqual(t, first.body["id"], admin.body["id"])
}

func waitStatus(t *testing.T, tb *testBundle, id string, want string) response {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := tb.do(t, "GET", "/v1/messages/"+id, readKey, "")
		require.Equal(t, 200, r.status)
		if r.body["status"] == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s is %v, want %s: %s", id, r.body["status"], want, r.raw)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSendDeliverAndFailover(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	r := tb.do(t, "POST", "/v1/messages", sendKey, otp)
	require.Equal(t, 202, r.status)
	require.Equal(t, "queued", r.body["status"])
	require.Equal(t, "otp", r.body["policy"])
	require.Equal(t, []any{"whatsapp", "sms", "email"}, r.body["route"])
	require.Equal(t, "/v1/messages/"+r.body["id"].(string), r.header.Get("Location"))

	m := waitStatus(t, tb, r.body["id"].(string), "delivered")
	require.Equal(t, "whatsapp", m.body["channel"])
	require.Equal(t, false, m.body["is_fallback"])
	require.Equal(t, "Your code is 123456", m.body["body"])

	// Reject on WhatsApp: the next message fails over to SMS at once.
	require.Equal(t, 200, tb.do(t, "POST", "/v1/channels/whatsapp/sim", adminKey, `{"mode":"reject"}`).status)
	r = tb.do(t, "POST", "/v1/messages", sendKey, otp)
	m = waitStatus(t, tb, r.body["id"].(string), "delivered")
	require.Equal(t, "sms", m.body["channel"])
	require.Equal(t, true, m.body["is_fallback"])
	attempts := m.body["attempts"].([]any)
	require.Len(t, attempts, 2)
	a0 := attempts[0].(map[string]any)
	require.Equal(t, "whatsapp", a0["channel"])
	require.Equal(t, "failed", a0["status"])
	require.Equal(t, "permanent", a0["error_class"])
	require.Equal(t, "error", a0["failover_reason"])
	require.Equal(t, "delivered", attempts[1].(map[string]any)["status"])

	bad := tb.do(t, "POST", "/v1/channels/whatsapp/sim", adminKey, `{"mode":"sideways"}`)
	require.Equal(t, 422, bad.status)
	code, field := errField(bad)
	require.Equal(t, "invalid_field", code)
	require.Equal(t, "mode", field)
}

func TestDisableExplainEnable(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	r := tb.do(t, "POST", "/v1/channels/whatsapp/disable", adminKey, `{"reason":"incident 42"}`)
	require.Equal(t, 200, r.status, r.raw)
	require.Equal(t, "disabled", r.body["state"])
	require.Equal(t, "incident 42", r.body["disabled_reason"])

	ex := tb.do(t, "POST", "/v1/routes/explain", sendKey, otp)
	require.Equal(t, 200, ex.status, ex.raw)
	require.Equal(t, "otp", ex.body["policy"])
	require.Equal(t, "sms", ex.body["channel"])
	chans := ex.body["channels"].([]any)
	wa := chans[0].(map[string]any)
	require.Equal(t, false, wa["use"])
	require.Equal(t, "disabled", wa["reason"])
	require.Equal(t, "whatsapp was skipped: ops had switched it off (incident 42)", wa["sentence"])
	email := chans[2].(map[string]any)
	require.Equal(t, "no_address", email["reason"])

	s := tb.do(t, "POST", "/v1/messages", sendKey, otp)
	m := waitStatus(t, tb, s.body["id"].(string), "delivered")
	a0 := m.body["attempts"].([]any)[0].(map[string]any)
	require.Equal(t, "skipped", a0["status"])
	require.Equal(t, "disabled", a0["failover_reason"])

	require.Equal(t, 200, tb.do(t, "POST", "/v1/channels/whatsapp/enable", adminKey, "").status)
	ex = tb.do(t, "POST", "/v1/routes/explain", sendKey, otp)
	require.Equal(t, "whatsapp", ex.body["channel"])

	ch := tb.do(t, "GET", "/v1/channels", readKey, "")
	list := ch.body["channels"].([]any)
	require.Len(t, list, 3)
	first := list[0].(map[string]any)
	require.Equal(t, "whatsapp", first["name"])
	require.Equal(t, "healthy", first["state"])
	require.Equal(t, "closed", first["breaker"])
	require.Equal(t, "up", first["sim_mode"])
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	var ids []string
	for i := range 25 {
		body := strings.Replace(otp, "code is 123456", "code is "+string(rune('a'+i)), 1)
		r := tb.do(t, "POST", "/v1/messages", sendKey, body)
		require.Equal(t, 202, r.status, r.raw)
		ids = append(ids, r.body["id"].(string))
	}
	var got []string
	cursor := ""
	pages := 0
	for {
		r := tb.do(t, "GET", "/v1/messages?limit=10&cursor="+cursor, readKey, "")
		require.Equal(t, 200, r.status, r.raw)
		pages++
		for _, m := range r.body["messages"].([]any) {
			mm := m.(map[string]any)
			require.NotContains(t, mm, "body", "lists leave message bodies out")
			got = append(got, mm["id"].(string))
		}
		next, _ := r.body["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	require.Equal(t, 3, pages)
	for i, j := 0, len(ids)-1; i < j; i, j = i+1, j-1 {
		ids[i], ids[j] = ids[j], ids[i]
	}
	require.Equal(t, ids, got, "newest first, no gaps, no duplicates")

	r := tb.do(t, "GET", "/v1/messages?status=lost", readKey, "")
	require.Equal(t, 400, r.status)
	code, field := errField(r)
	require.Equal(t, "invalid_query", code)
	require.Equal(t, "status", field)
	r = tb.do(t, "GET", "/v1/messages?limit=0", readKey, "")
	require.Equal(t, 400, r.status)
	r = tb.do(t, "GET", "/v1/messages?cursor=%21%21bogus", readKey, "")
	require.Equal(t, 400, r.status, r.raw)
	_, field = errField(r)
	require.Equal(t, "cursor", field)
}

func TestListByTagAndTime(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	before := time.Now().Add(-time.Second)
	var promo []string
	for i := range 6 {
		body := otp
		if i%2 == 1 {
			body = strings.Replace(otp, `"tags":["otp"]`, `"tags":["promo"]`, 1)
		}
		r := tb.do(t, "POST", "/v1/messages", sendKey, body)
		require.Equal(t, 202, r.status, r.raw)
		if i%2 == 1 {
			promo = append([]string{r.body["id"].(string)}, promo...) // newest first
		}
	}
	ids := func(r response) []string {
		var out []string
		for _, m := range r.body["messages"].([]any) {
			out = append(out, m.(map[string]any)["id"].(string))
		}
		return out
	}
	r := tb.do(t, "GET", "/v1/messages?tag=promo", readKey, "")
	require.Equal(t, 200, r.status, r.raw)
	require.Equal(t, promo, ids(r))
	since := url.QueryEscape(before.UTC().Format(time.RFC3339Nano))
	r = tb.do(t, "GET", "/v1/messages?tag=promo&since="+since+"&until="+url.QueryEscape(time.Now().Add(time.Minute).UTC().Format(time.RFC3339)), readKey, "")
	require.Equal(t, 200, r.status, r.raw)
	require.Equal(t, promo, ids(r), "inside the window")
	r = tb.do(t, "GET", "/v1/messages?until="+since, readKey, "")
	require.Equal(t, 200, r.status, r.raw)
	require.Empty(t, ids(r), "nothing was accepted before the window")

	for _, tc := range []struct{ query, field string }{
		{"since=yesterday", "since"},
		{"until=2026-13-01T00:00:00Z", "until"},
		{"since=2026-11-23T18:00:00Z&until=2026-11-23T18:00:00Z", "until"},
	} {
		r := tb.do(t, "GET", "/v1/messages?"+tc.query, readKey, "")
		require.Equal(t, 400, r.status, r.raw)
		code, field := errField(r)
		require.Equal(t, "invalid_query", code)
		require.Equal(t, tc.field, field, tc.query)
	}
}

func TestResponsesNeverEchoSecrets(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	r := tb.do(t, "POST", "/v1/messages", readKey, otp)
	require.Equal(t, 403, r.status)
	require.NotContains(t, r.raw, readKey)
	var buf bytes.Buffer
	buf.WriteString(r.raw)
	require.NotContains(t, buf.String(), sendKey)
}
