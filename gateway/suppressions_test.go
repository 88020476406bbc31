package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
	"github.com/switchboard-gw/switchboard/config"
)

// optOutConfig: otp goes by SMS, then email. The sms channel is a sim, or
// (twilio) Twilio's API at %TWILIO%.
const optOutConfig = `
store: {driver: sqlite, dsn: "%DSN%"}
dispatch: {poll: 20ms}
auth:
  keys:
    - {name: shop, key: ` + sendKey + `, role: send}
    - {name: support, key: ` + readKey + `, role: read}
    - {name: ops, key: ` + adminKey + `, role: admin}
channels:
  sms:   %SMS%
  email: {type: sim, kind: email, latency: 0s, probe: {interval: 1h}}
policies:
  - name: otp
    match: {tags: [otp]}
    route: [sms, email]
  - name: default
    route: [sms, email]
`

const simSMS = `{type: sim, kind: sms, latency: 0s, probe: {interval: 1h}}`

func optOutGateway(t *testing.T, sms string) string {
	t.Helper()
	y := strings.NewReplacer("%DSN%", filepath.Join(t.TempDir(), "sb.db"), "%SMS%", sms).Replace(optOutConfig)
	cfg, err := config.Parse("t.yaml", []byte(y))
	require.NoError(t, err)
	base, stop := run(t, cfg)
	t.Cleanup(stop)
	return base
}

// call makes one API request with key and decodes the JSON answer (nil
// for an empty body).
func call(t *testing.T, method, url, key, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(data) > 0 {
		require.NoError(t, json.Unmarshal(data, &out), "%s", data)
	}
	return resp.StatusCode, out
}

func errorOf(body map[string]any) (code, field string) {
	e, _ := body["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

func entries(t *testing.T, body map[string]any) []string {
	t.Helper()
	var out []string
	list, ok := body["suppressions"].([]any)
	require.True(t, ok, "%v", body)
	for _, e := range list {
		m := e.(map[string]any)
		out = append(out, m["kind"].(string)+" "+m["address"].(string))
	}
	return out
}

// TestSuppressionsAPI drives GET/POST/DELETE /v1/suppressions on a running
// gateway: roles, validation errors naming the field, normalised
// addresses, filters, paging and removal.
func TestSuppressionsAPI(t *testing.T) {
	t.Parallel()
	base := optOutGateway(t, simSMS)
	path := base + "/v1/suppressions"

	for _, tt := range []struct {
		name, key, body string
		status          int
		code, field     string
	}{
		{"a send key may not add", sendKey, `{"address":"+15550100001","kind":"sms"}`, 403, "forbidden", ""},
		{"a read key may not add", readKey, `{"address":"+15550100001","kind":"sms"}`, 403, "forbidden", ""},
		{"kind is required", adminKey, `{"address":"+15550100001"}`, 422, "missing_field", "kind"},
		{"an unknown kind", adminKey, `{"address":"+15550100001","kind":"fax"}`, 422, "invalid_field", "kind"},
		{"address is required", adminKey, `{"kind":"sms"}`, 422, "missing_field", "address"},
		{"not E.164", adminKey, `{"address":"5550100001","kind":"sms"}`, 422, "invalid_recipient", "address"},
		{"too short for its country", adminKey, `{"address":"+1555010","kind":"whatsapp"}`, 422, "invalid_recipient", "address"},
		{"not an email", adminKey, `{"address":"ana","kind":"email"}`, 422, "invalid_recipient", "address"},
		{"not a telegram chat", adminKey, `{"address":"ana smith","kind":"telegram"}`, 422, "invalid_recipient", "address"},
		{"a reason of two lines", adminKey, `{"address":"+15550100001","kind":"sms","reason":"a\nb"}`, 422, "invalid_field", "reason"},
		{"an unknown field", adminKey, `{"address":"+15550100001","kind":"sms","source":"provider"}`, 400, "unknown_field", "source"},
		{"not JSON", adminKey, `{"address":`, 400, "invalid_json", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, http.MethodPost, path, tt.key, tt.body)
			require.Equal(t, tt.status, status, "%v", body)
			code, field := errorOf(body)
			require.Equal(t, tt.code, code, "%v", body)
			require.Equal(t, tt.field, field, "%v", body)
		})
	}

	before := time.Now().Add(-time.Second)
	status, body := call(t, http.MethodPost, path, adminKey, `{"address":" +15550100001 ","kind":"sms","reason":"asked on the phone"}`)
	require.Equal(t, http.StatusCreated, status, "%v", body)
	require.Equal(t, "+15550100001", body["address"])
	require.Equal(t, "sms", body["kind"])
	require.Equal(t, "asked on the phone", body["reason"])
	require.Equal(t, "api", body["source"])
	at, err := time.Parse(time.RFC3339Nano, body["created_at"].(string))
	require.NoError(t, err)
	require.True(t, at.After(before), "created_at %v", at)
	for _, b := range []string{
		`{"address":"whatsapp:+15550100001","kind":"whatsapp"}`,
		`{"address":"Ana@Example.com","kind":"email"}`,
		`{"address":"+15550100002","kind":"sms"}`,
	} {
		status, body = call(t, http.MethodPost, path, adminKey, b)
		require.Equal(t, http.StatusCreated, status, "%v", body)
	}

	status, body = call(t, http.MethodGet, path, readKey, "")
	require.Equal(t, http.StatusOK, status, "%v", body)
	require.Equal(t, []string{"sms +15550100001", "whatsapp +15550100001", "sms +15550100002", "email ana@example.com"}, entries(t, body),
		"(address, kind) order; the whatsapp: prefix and the email's case are normalised")
	status, body = call(t, http.MethodGet, path+"?kind=sms", adminKey, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []string{"sms +15550100001", "sms +15550100002"}, entries(t, body))
	status, body = call(t, http.MethodGet, path+"?address="+url.QueryEscape("+15550100001"), readKey, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []string{"sms +15550100001", "whatsapp +15550100001"}, entries(t, body))
	status, body = call(t, http.MethodGet, path+"?address=ANA@example.com", readKey, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []string{"email ana@example.com"}, entries(t, body))

	// Paging, one entry a page.
	var all []string
	next := path + "?limit=1"
	for range 10 {
		status, body = call(t, http.MethodGet, next, readKey, "")
		require.Equal(t, http.StatusOK, status, "%v", body)
		all = append(all, entries(t, body)...)
		c, _ := body["next_cursor"].(string)
		if c == "" {
			break
		}
		next = path + "?limit=1&cursor=" + url.QueryEscape(c)
	}
	require.Len(t, all, 4)

	for _, tt := range []struct {
		name, method, url, key string
		status                 int
		code, field            string
	}{
		{"a send key may not list", http.MethodGet, path, sendKey, 403, "forbidden", ""},
		{"an unknown kind filter", http.MethodGet, path + "?kind=pigeon", readKey, 400, "invalid_query", "kind"},
		{"an address filter that is not E.164 for its kind", http.MethodGet, path + "?kind=sms&address=12", readKey, 400, "invalid_query", "address"},
		{"a limit out of range", http.MethodGet, path + "?limit=501", readKey, 400, "invalid_query", "limit"},
		{"a cursor from nowhere", http.MethodGet, path + "?cursor=bm9wZQ", readKey, 400, "invalid_query", "cursor"},
		{"a read key may not remove", http.MethodDelete, path + "/sms/" + url.PathEscape("+15550100001"), readKey, 403, "forbidden", ""},
		{"remove: an unknown kind", http.MethodDelete, path + "/fax/" + url.PathEscape("+15550100001"), adminKey, 400, "invalid_field", "kind"},
		{"remove: not E.164", http.MethodDelete, path + "/sms/0100001", adminKey, 400, "invalid_recipient", "address"},
		{"remove: not on the list", http.MethodDelete, path + "/whatsapp/" + url.PathEscape("+15550100002"), adminKey, 404, "not_found", "address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, tt.method, tt.url, tt.key, "")
			require.Equal(t, tt.status, status, "%v", body)
			code, field := errorOf(body)
			require.Equal(t, tt.code, code, "%v", body)
			require.Equal(t, tt.field, field, "%v", body)
		})
	}

	status, body = call(t, http.MethodDelete, path+"/sms/"+url.PathEscape("+15550100001"), adminKey, "")
	require.Equal(t, http.StatusNoContent, status, "%v", body)
	status, body = call(t, http.MethodDelete, path+"/email/"+url.PathEscape("ana@example.com"), adminKey, "")
	require.Equal(t, http.StatusNoContent, status, "%v", body)
	status, _ = call(t, http.MethodDelete, path+"/sms/"+url.PathEscape("+15550100001"), adminKey, "")
	require.Equal(t, http.StatusNotFound, status, "removed once")
	status, body = call(t, http.MethodGet, path, readKey, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []string{"whatsapp +15550100001", "sms +15550100002"}, entries(t, body))

	metrics := scrape(t, base+"/metrics")
	require.Contains(t, metrics, `switchboard_suppressions_changed_total{action="added",kind="sms",source="api"} 2`)
	require.Contains(t, metrics, `switchboard_suppressions_changed_total{action="removed",kind="sms",source="api"} 1`)
}

// waitMessage polls GET /v1/messages/{id} until done says so.
func waitMessageJSON(t *testing.T, base, id string, done func(m map[string]any) bool) map[string]any {
	t.Helper()
	var m map[string]any
	require.Eventually(t, func() bool {
		var status int
		status, m = call(t, http.MethodGet, base+"/v1/messages/"+id, readKey, "")
		return status == http.StatusOK && done(m)
	}, 10*time.Second, 20*time.Millisecond, "message %s: %v", id, m)
	return m
}

func attemptsOf(m map[string]any) []map[string]any {
	var out []map[string]any
	list, _ := m["attempts"].([]any)
	for _, a := range list {
		out = append(out, a.(map[string]any))
	}
	return out
}

func goneBy(channel string) func(m map[string]any) bool {
	return func(m map[string]any) bool {
		return m["channel"] == channel && (m["status"] == "sent" || m["status"] == "delivered")
	}
}

// TestOptedOutOTPGoesByEmail is the drill: ops put a customer's
// phone on the opt-out list for SMS, and their next OTP (policy otp: sms,
// then email) goes by email, with opted_out on the timeline; once the
// entry is removed, OTPs go by SMS again. A recipient who opted out of
// every channel of the route gets nothing: the message fails opted_out.
func TestOptedOutOTPGoesByEmail(t *testing.T) {
	t.Parallel()
	base := optOutGateway(t, simSMS)
	const phone = "+15550100007"
	send := func(to string) string {
		status, body := call(t, http.MethodPost, base+"/v1/messages", sendKey, `{"to":`+to+`,"body":"Your code is 123456","tags":["otp"]}`)
		require.Equal(t, http.StatusAccepted, status, "%v", body)
		return body["id"].(string)
	}
	customer := `{"phone":"` + phone + `","email":"ana@example.com"}`

	status, body := call(t, http.MethodPost, base+"/v1/suppressions", adminKey, `{"address":"`+phone+`","kind":"sms","reason":"STOP by phone call"}`)
	require.Equal(t, http.StatusCreated, status, "%v", body)

	// Explain says so too.
	status, body = call(t, http.MethodPost, base+"/v1/routes/explain", sendKey, `{"to":`+customer+`,"body":"Your code is 123456","tags":["otp"]}`)
	require.Equal(t, http.StatusOK, status, "%v", body)
	require.Equal(t, "email", body["channel"], "%v", body)
	require.Equal(t, "opted_out", body["channels"].([]any)[0].(map[string]any)["reason"])

	m := waitMessageJSON(t, base, send(customer), goneBy("email"))
	as := attemptsOf(m)
	require.Len(t, as, 2, "%v", m)
	require.Equal(t, "sms", as[0]["channel"])
	require.Equal(t, "skipped", as[0]["status"])
	require.Equal(t, "opted_out", as[0]["failover_reason"])
	require.Contains(t, as[0]["error"], "STOP by phone call, api, since ")
	require.Equal(t, "email", as[1]["channel"])
	require.Equal(t, true, m["is_fallback"])

	// Another customer's OTP still goes by SMS.
	waitMessageJSON(t, base, send(`{"phone":"+15550100008","email":"bo@example.com"}`), goneBy("sms"))

	// Opted out of SMS, and no email to fall back on: failed, opted_out.
	m = waitMessageJSON(t, base, send(`{"phone":"`+phone+`"}`), func(m map[string]any) bool { return m["status"] == "failed" })
	require.True(t, strings.HasPrefix(m["last_error"].(string), "opted_out: "), "%v", m["last_error"])
	as = attemptsOf(m)
	require.Equal(t, "opted_out", as[0]["failover_reason"])
	require.Equal(t, "no_address", as[1]["failover_reason"])

	status, _ = call(t, http.MethodDelete, base+"/v1/suppressions/sms/"+url.PathEscape(phone), adminKey, "")
	require.Equal(t, http.StatusNoContent, status)
	waitMessageJSON(t, base, send(customer), goneBy("sms"))

	metrics := scrape(t, base+"/metrics")
	require.Contains(t, metrics, `switchboard_attempts_total{channel="sms",outcome="skipped_opted_out"} 2`)
}

// TestProviderOptOutSuppresses: Twilio refuses an SMS with 21610 (the
// recipient replied STOP). The gateway puts the number on the opt-out list
// (source provider, reason 21610), the OTP goes by email, the next one
// skips SMS without asking Twilio, and the refusals never open the sms
// channel's breaker.
func TestProviderOptOutSuppresses(t *testing.T) {
	t.Parallel()
	var sends atomic.Int32
	twilio := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/Messages.json") {
			sends.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"code":21610,"message":"Attempt to send to unsubscribed recipient","more_info":"https://www.twilio.com/docs/errors/21610","status":400}`)
			return
		}
		_, _ = io.WriteString(w, `{"sid":"AC0123456789abcdef0123456789abcdef","status":"active"}`)
	}))
	t.Cleanup(twilio.Close)
	sms := `{type: twilio-sms, account_sid: AC0123456789abcdef0123456789abcdef, auth_token: 0f1e2d3c4b5a69788796a5b4c3d2e1f0, from: "+15005550006", endpoint: "` +
		twilio.URL + `", breaker: {failures: 1}, probe: {interval: 1h}}`
	base := optOutGateway(t, sms)
	const phone = "+15550100009"
	send := func() string {
		status, body := call(t, http.MethodPost, base+"/v1/messages", sendKey, `{"to":{"phone":"`+phone+`","email":"cy@example.com"},"body":"Your code is 123456","tags":["otp"]}`)
		require.Equal(t, http.StatusAccepted, status, "%v", body)
		return body["id"].(string)
	}

	m := waitMessageJSON(t, base, send(), goneBy("email"))
	as := attemptsOf(m)
	require.Equal(t, "sms", as[0]["channel"])
	require.Equal(t, "failed", as[0]["status"])
	require.Equal(t, "permanent", as[0]["error_class"])
	require.Equal(t, "opted_out", as[0]["failover_reason"])
	require.Equal(t, int32(1), sends.Load())

	status, body := call(t, http.MethodGet, base+"/v1/suppressions?kind=sms&address="+url.QueryEscape(phone), readKey, "")
	require.Equal(t, http.StatusOK, status)
	list := body["suppressions"].([]any)
	require.Len(t, list, 1, "%v", body)
	e := list[0].(map[string]any)
	require.Equal(t, "provider", e["source"])
	require.Equal(t, "21610", e["reason"])

	m = waitMessageJSON(t, base, send(), goneBy("email"))
	as = attemptsOf(m)
	require.Equal(t, "skipped", as[0]["status"])
	require.Equal(t, "opted_out", as[0]["failover_reason"])
	require.Equal(t, int32(1), sends.Load(), "no second call to Twilio for a suppressed number")

	status, body = call(t, http.MethodGet, base+"/v1/channels", readKey, "")
	require.Equal(t, http.StatusOK, status)
	for _, c := range body["channels"].([]any) {
		c := c.(map[string]any)
		if c["name"] == "sms" {
			require.Equal(t, "closed", c["breaker"], "a refusal for opting out says nothing about Twilio (breaker failures: 1)")
		}
	}
	metrics := scrape(t, base+"/metrics")
	require.Contains(t, metrics, `switchboard_suppressions_changed_total{action="added",kind="sms",source="provider"} 1`)
}

// scrape returns the text of url (the /metrics page).
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(data)
}

// TestSuppressionsClient: the Go client's opt-out calls against a running
// gateway.
func TestSuppressionsClient(t *testing.T) {
	t.Parallel()
	base := optOutGateway(t, simSMS)
	ctx := t.Context()
	admin := client.New(base, adminKey)
	s, err := admin.Suppress(ctx, "+15550100011", "sms", "asked by email")
	require.NoError(t, err)
	require.Equal(t, client.Suppression{Address: "+15550100011", Kind: "sms", Reason: "asked by email", Source: "api", CreatedAt: s.CreatedAt}, *s)
	_, err = admin.Suppress(ctx, "whatsapp:+15550100011", "whatsapp", "")
	require.NoError(t, err)
	_, err = admin.Suppress(ctx, "+15550100012", "sms", "")
	require.NoError(t, err)
	_, err = admin.Suppress(ctx, "+1555", "sms", "")
	var ae *client.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "invalid_recipient", ae.Code)
	require.Equal(t, "address", ae.Field)

	var got []string
	for e, err := range client.New(base, readKey).Suppressions(ctx, client.SuppressionParams{Limit: 2}) {
		require.NoError(t, err)
		got = append(got, e.Kind+" "+e.Address)
	}
	require.Equal(t, []string{"sms +15550100011", "whatsapp +15550100011", "sms +15550100012"}, got, "every page")
	page, err := admin.SuppressionPage(ctx, client.SuppressionParams{Address: "+15550100011", Kind: "whatsapp"})
	require.NoError(t, err)
	require.Len(t, page.Suppressions, 1)

	require.NoError(t, admin.Unsuppress(ctx, "+15550100011", "sms"))
	err = admin.Unsuppress(ctx, "+15550100011", "sms")
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "not_found", ae.Code)
}
