package ui_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/api"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
)

// The API keys of uiConfig (the same as package api's tests).
const (
	sendKey  = "test-send-key-0123456789"
	readKey  = "test-read-key-0123456789"
	adminKey = "test-admin-key-0123456789"
)

// uiConfig is api's testConfig with receipt deadlines (for no_receipt failovers)
// and a telegram channel.
const uiConfig = `
server: {listen: "127.0.0.1:0"}
store: {driver: sqlite, dsn: "%DSN%"}
auth:
  keys:
    - {name: shop, key: ` + sendKey + `, role: send}
    - {name: support, key: ` + readKey + `, role: read}
    - {name: ops, key: ` + adminKey + `, role: admin}
channels:
  whatsapp: {type: sim, kind: whatsapp, receipt_delay: 5ms, probe: {interval: 1h}}
  sms:      {type: sim, kind: sms, receipt_delay: 5ms, probe: {interval: 1h}, cost: {per_segment: 0.0079, currency: USD}, budget: {per_day: 50, currency: USD}, sender: SWBOARD}
  email:    {type: sim, kind: email, receipt_delay: 5ms, probe: {interval: 1h}}
  telegram: {type: sim, kind: telegram, receipt_delay: 5ms, probe: {interval: 1h}}
policies:
  - name: otp
    match: {tags: [otp]}
    route: [whatsapp, sms, email]
    receipt_timeout: {whatsapp: 300ms}
    ttl: 10m
  - name: default
    route: [whatsapp, telegram, email]
`

type uiClient struct {
	t      *testing.T
	base   string
	http   *http.Client
	cookie *http.Cookie
}

func startUI(t *testing.T) *uiClient {
	t.Helper()
	_, base, _ := startUIGateway(t)
	return newUIClient(t, base)
}

// startUIGateway runs a gateway on uiConfig and returns it, its address
// and the config text it runs (for more instances of the same config).
func startUIGateway(t *testing.T) (*gateway.Gateway, string, string) {
	t.Helper()
	yml := strings.ReplaceAll(uiConfig, "%DSN%", filepath.Join(t.TempDir(), "sb.db"))
	cfg, err := config.Parse("test.yaml", []byte(yml))
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
	return g, "http://" + ln.Addr().String(), yml
}

func newUIClient(t *testing.T, base string) *uiClient {
	return &uiClient{t: t, base: base, http: &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type uiResp struct {
	status int
	header http.Header
	body   string
}

func (u *uiClient) req(method, path string, form url.Values, hdr ...string) uiResp {
	u.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u.base+path, body)
	require.NoError(u.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if u.cookie != nil {
		req.AddCookie(u.cookie)
	}
	res, err := u.http.Do(req)
	require.NoError(u.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(u.t, err)
	return uiResp{res.StatusCode, res.Header, string(b)}
}

func (u *uiClient) get(path string, hdr ...string) uiResp { return u.req("GET", path, nil, hdr...) }

// api calls the JSON API with a bearer key.
func (u *uiClient) api(method, path, key, body string) map[string]any {
	u.t.Helper()
	req, err := http.NewRequest(method, u.base+path, strings.NewReader(body))
	require.NoError(u.t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := u.http.Do(req)
	require.NoError(u.t, err)
	defer res.Body.Close()
	var out map[string]any
	require.NoError(u.t, json.NewDecoder(res.Body).Decode(&out))
	require.Less(u.t, res.StatusCode, 300, "%s %s: %v", method, path, out)
	return out
}

func sessionCookie(h http.Header) *http.Cookie {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == "sb_session" {
			return c
		}
	}
	return nil
}

// signIn signs in with key and keeps the session cookie.
func (u *uiClient) signIn(key string) {
	u.t.Helper()
	r := u.req("POST", "/ui/login", url.Values{"key": {key}, "next": {"/ui/"}})
	require.Equal(u.t, http.StatusSeeOther, r.status, r.body)
	u.cookie = sessionCookie(r.header)
	require.NotNil(u.t, u.cookie)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (u *uiClient) csrf() string {
	u.t.Helper()
	m := csrfRE.FindStringSubmatch(u.get("/ui/channels").body)
	require.NotNil(u.t, m, "a signed-in page carries the CSRF token")
	return m[1]
}

func TestUISignIn(t *testing.T) {
	t.Parallel()
	u := startUI(t)

	r := u.get("/ui/")
	require.Equal(t, http.StatusSeeOther, r.status, "signed out: to the sign-in form")
	require.Equal(t, "/ui/login?next=%2Fui%2F", r.header.Get("Location"))
	r = u.get("/ui")
	require.Equal(t, http.StatusMovedPermanently, r.status)

	r = u.get("/ui/login")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, `<label for="key">API key</label>`)
	require.Contains(t, r.header.Get("Content-Security-Policy"), "script-src 'self'")
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))

	for _, tc := range []struct {
		key    string
		status int
		says   string
	}{
		{sendKey, http.StatusForbidden, `The key &#34;shop&#34; has role send: it can send messages but cannot open the dashboard. Sign in with a read or admin key.`},
		{"not-a-key", http.StatusUnauthorized, "That API key is not valid."},
		{"", http.StatusBadRequest, "Enter an API key."},
	} {
		r := u.req("POST", "/ui/login", url.Values{"key": {tc.key}})
		require.Equal(t, tc.status, r.status, tc.key)
		require.Contains(t, r.body, tc.says)
		require.Contains(t, r.body, `role="alert"`)
		require.Nil(t, sessionCookie(r.header), "refused: no session")
	}

	// A cross-site form post is refused before the key is looked at.
	r = u.req("POST", "/ui/login", url.Values{"key": {readKey}}, "Origin", "https://evil.example")
	require.Equal(t, http.StatusForbidden, r.status)
	require.Nil(t, sessionCookie(r.header))

	for _, key := range []string{readKey, adminKey} {
		r := u.req("POST", "/ui/login", url.Values{"key": {key}, "next": {"/ui/channels"}})
		require.Equal(t, http.StatusSeeOther, r.status)
		require.Equal(t, "/ui/channels", r.header.Get("Location"))
		ck := sessionCookie(r.header)
		require.NotNil(t, ck)
		require.True(t, ck.HttpOnly)
		require.Equal(t, http.SameSiteStrictMode, ck.SameSite)
		require.False(t, ck.Secure, "plain HTTP: a Secure cookie would never come back")
		require.Equal(t, "/ui", ck.Path)
		require.NotContains(t, ck.Value, key, "the cookie names the key, never holds it")
		require.GreaterOrEqual(t, len(ck.Value), 40)
		require.Contains(t, r.header.Get("Set-Cookie"), "SameSite=Strict")
	}
	// An open redirect through next is not possible.
	r = u.req("POST", "/ui/login", url.Values{"key": {readKey}, "next": {"//evil.example/ui/"}})
	require.Equal(t, "/ui/", r.header.Get("Location"))

	u.signIn(readKey)
	r = u.get("/ui/")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, "support <span class=\"role\">read</span>")

	// Sign-out needs the CSRF token, then ends the session server-side.
	old := u.cookie
	r = u.req("POST", "/ui/logout", url.Values{"csrf": {"wrong"}})
	require.Equal(t, http.StatusForbidden, r.status)
	// The right token in the URL is refused: it is read from the body only
	// (a URL ends up in proxy logs and the browser's history).
	r = u.req("POST", "/ui/logout?csrf="+url.QueryEscape(u.csrf()), url.Values{})
	require.Equal(t, http.StatusForbidden, r.status)
	r = u.req("POST", "/ui/logout", url.Values{"csrf": {u.csrf()}})
	require.Equal(t, http.StatusSeeOther, r.status)
	cleared := sessionCookie(r.header)
	require.NotNil(t, cleared)
	require.Empty(t, cleared.Value)
	require.Less(t, cleared.MaxAge, 0)
	u.cookie = old // a copy of the old cookie no longer works
	require.Equal(t, http.StatusSeeOther, u.get("/ui/").status)
	r = u.get("/ui/channels?fragment=1")
	require.Equal(t, http.StatusUnauthorized, r.status, "a poll without a session gets 401, and the script reloads")
}

// TestUILoginKeyInURLRefused: the dashboard sign-in reads the key from the
// POST body only. A key in the query string is refused with the sign-in
// page (400) and no session, even when the body has a good key too.
func TestUILoginKeyInURLRefused(t *testing.T) {
	t.Parallel()
	u := startUI(t)
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"query only", nil},
		{"empty form", url.Values{"next": {"/ui/"}}},
		{"body has a key too", url.Values{"key": {readKey}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := u.req("POST", "/ui/login?key="+url.QueryEscape(adminKey), tc.form)
			require.Equal(t, http.StatusBadRequest, r.status, r.body)
			require.Contains(t, r.body, "Send the API key in the form body, never in the URL")
			require.Contains(t, r.body, `role="alert"`)
			require.Nil(t, sessionCookie(r.header), "no session")
			require.NotContains(t, r.body, adminKey)
		})
	}
	// The body alone still signs in.
	u.signIn(adminKey)
}

func TestUIChannelsAdminOnly(t *testing.T) {
	t.Parallel()
	u := startUI(t)

	u.signIn(readKey)
	r := u.get("/ui/channels")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, "WhatsApp")
	require.Contains(t, r.body, `<span aria-hidden="true">✓</span> healthy</span>`, "state has an icon and a word")
	require.NotContains(t, r.body, "Disable sms", "read keys see no override buttons")
	token := u.csrf()
	r = u.req("POST", "/ui/channels/sms/disable", url.Values{"csrf": {token}, "reason": {"test"}})
	require.Equal(t, http.StatusForbidden, r.status, "and the server refuses them")
	require.Contains(t, r.body, "Only an admin key")
	ch := u.api("GET", "/v1/channels", readKey, "")
	require.NotContains(t, mustJSON(t, ch), `"disabled"`)

	u.signIn(adminKey)
	r = u.get("/ui/channels")
	require.Contains(t, r.body, "Disable sms")
	require.Contains(t, r.body, `<label for="reason-sms">Reason</label>`)
	token = u.csrf()
	r = u.req("POST", "/ui/channels/sms/disable", url.Values{"reason": {"test"}})
	require.Equal(t, http.StatusForbidden, r.status, "no CSRF token")
	r = u.req("POST", "/ui/channels/sms/disable", url.Values{"csrf": {token}, "reason": {"  "}})
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Contains(t, r.header.Get("Location"), "error=")
	r = u.req("POST", "/ui/channels/pigeon/disable", url.Values{"csrf": {token}, "reason": {"x"}})
	require.Equal(t, http.StatusNotFound, r.status)

	r = u.req("POST", "/ui/channels/sms/disable", url.Values{"csrf": {token}, "reason": {"provider incident INC-7"}})
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Contains(t, mustJSON(t, u.api("GET", "/v1/channels", readKey, "")), "provider incident INC-7 (ops, dashboard)")
	r = u.get("/ui/channels")
	require.Contains(t, r.body, "Enable sms")
	require.Contains(t, r.body, "⊘</span> disabled")

	r = u.req("POST", "/ui/channels/sms/enable", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusSeeOther, r.status)
	require.NotContains(t, mustJSON(t, u.api("GET", "/v1/channels", readKey, "")), "INC-7")
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// send posts a message and returns its id.
func (u *uiClient) send(body string) string {
	u.t.Helper()
	return u.api("POST", "/v1/messages", sendKey, body)["id"].(string)
}

// waitStatus waits until the message reaches status.
func (u *uiClient) waitStatus(id, status string) map[string]any {
	u.t.Helper()
	var m map[string]any
	require.Eventually(u.t, func() bool {
		m = u.api("GET", "/v1/messages/"+id, readKey, "")
		return m["status"] == status
	}, 10*time.Second, 20*time.Millisecond, "message %s never became %s", id, status)
	return m
}

func TestUIMessagesSearch(t *testing.T) {
	t.Parallel()
	u := startUI(t)
	ana := u.send(`{"to":{"phone":"+15551234567","whatsapp":"+15551234567","email":"ana@example.com"},"body":"code 1","tags":["otp"]}`)
	bo := u.send(`{"to":{"email":"bo@example.com","telegram":"987654321"},"body":"order shipped","tags":["order"]}`)
	cy := u.send(`{"to":{"whatsapp":"+447700900123"},"body":"hello"}`)
	for _, id := range []string{ana, bo, cy} {
		u.waitStatus(id, "delivered")
	}
	u.signIn(readKey)

	rows := func(path string) []string {
		t.Helper()
		r := u.get(path)
		require.Equal(t, http.StatusOK, r.status, r.body)
		var ids []string
		for _, m := range regexp.MustCompile(`href="/ui/messages/([0-9a-f-]{36})"`).FindAllStringSubmatch(r.body, -1) {
			ids = append(ids, m[1])
		}
		return ids
	}
	require.Equal(t, []string{cy, bo, ana}, rows("/ui/"), "newest first")

	// Recipients are masked in the list.
	r := u.get("/ui/")
	require.Contains(t, r.body, "&#43;155******67", "html/template writes + as &#43;")
	require.Contains(t, r.body, "a**@example.com")
	require.Contains(t, r.body, "*******21")
	for _, full := range []string{"15551234567", "ana@example.com", "987654321", "447700900123"} {
		require.NotContains(t, r.body, full)
	}
	require.Contains(t, r.body, `<time datetime="`, "times are machine-readable for the script to localise")
	require.Regexp(t, `title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"`, r.body, "UTC on hover")

	q := func(v url.Values) string { return "/ui/?" + v.Encode() }
	require.Equal(t, []string{ana}, rows(q(url.Values{"q": {"+1 (555) 123-4567"}})), "a phone number with spacing")
	require.Equal(t, []string{ana}, rows(q(url.Values{"q": {"whatsapp:+15551234567"}})))
	require.Equal(t, []string{bo}, rows(q(url.Values{"q": {"bo@example.com"}})))
	require.Equal(t, []string{bo}, rows(q(url.Values{"q": {"987654321"}})), "a Telegram id")
	require.Equal(t, []string{ana}, rows(q(url.Values{"tag": {"otp"}})))
	require.Equal(t, []string{cy, ana}, rows(q(url.Values{"channel": {"whatsapp"}})))
	require.Equal(t, []string{bo}, rows(q(url.Values{"channel": {"telegram"}})), "no WhatsApp address: Telegram")
	require.Equal(t, []string{cy, bo}, rows(q(url.Values{"policy": {"default"}})))
	require.Equal(t, []string{ana}, rows(q(url.Values{"policy": {"otp"}, "status": {"delivered"}})))
	require.Empty(t, rows(q(url.Values{"status": {"failed"}})))
	require.Contains(t, u.get(q(url.Values{"status": {"failed"}})).body, "No messages match this search.")
	require.Contains(t, u.get(q(url.Values{"status": {"bogus"}})).body, "Unknown status bogus.")

	// Time range in the viewer's zone: tzo is minutes east of UTC.
	now := time.Now().UTC()
	require.Len(t, rows(q(url.Values{"from": {now.Add(-time.Hour).Format("2006-01-02T15:04")}})), 3)
	require.Empty(t, rows(q(url.Values{"from": {now.Add(time.Hour).Format("2006-01-02T15:04")}})))
	require.Empty(t, rows(q(url.Values{"to": {now.Add(-time.Hour).Format("2006-01-02T15:04")}})))
	// 2h later on a UTC+2 clock is now: messages are before it.
	require.Len(t, rows(q(url.Values{"to": {now.Add(2*time.Hour + time.Minute).Format("2006-01-02T15:04")}, "tzo": {"120"}})), 3)
	require.Empty(t, rows(q(url.Values{"from": {now.Add(2*time.Hour + time.Minute).Format("2006-01-02T15:04")}, "tzo": {"120"}})))

	// A message id jumps to the message; an unknown one says so.
	r = u.get(q(url.Values{"q": {" " + bo + " "}}))
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Equal(t, "/ui/messages/"+bo, r.header.Get("Location"))
	require.Contains(t, u.get(q(url.Values{"q": {"0193a7e0-1c2d-7e4f-8a9b-0c1d2e3f4a5b"}})).body, "No message has the id")

	// Cursor paging: 50 a page, the next page keeps the filters.
	for range 50 {
		u.send(`{"to":{"phone":"+15550000000"},"body":"x","policy":"otp"}`)
	}
	r = u.get(q(url.Values{"policy": {"otp"}}))
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(r.body)
	require.NotNil(t, next, "an Older link")
	require.Len(t, rows(q(url.Values{"policy": {"otp"}})), 50)
	require.Contains(t, next[1], "policy=otp")
	page2 := rows(strings.ReplaceAll(next[1], "&amp;", "&"))
	require.Equal(t, []string{ana}, page2, "the oldest otp message is on page 2")
	require.Contains(t, u.get(strings.ReplaceAll(next[1], "&amp;", "&")).body, "⇤ Newest")
}

func TestUIMessageDetail(t *testing.T) {
	t.Parallel()
	u := startUI(t)
	u.signIn(adminKey)
	sim := func(ch, mode string) { u.api("POST", "/v1/channels/"+ch+"/sim", adminKey, `{"mode":"`+mode+`"}`) }

	// WhatsApp rejects the recipient: permanent, on to SMS.
	sim("whatsapp", "reject")
	rejected := u.send(`{"to":{"phone":"+15551234567","whatsapp":"+15551234567"},"body":"code 1","tags":["otp"],"callback_url":"https://app.example.com/hook"}`)
	u.waitStatus(rejected, "delivered")
	// WhatsApp accepts and never confirms: after the 300ms deadline, SMS.
	sim("whatsapp", "blackhole")
	silent := u.send(`{"to":{"phone":"+15551234567","whatsapp":"+15551234567"},"body":"code 2","tags":["otp"]}`)
	u.waitStatus(silent, "delivered")
	// Ops disabled SMS; WhatsApp down: the default route goes to Telegram.
	sim("whatsapp", "reject")
	token := u.csrf()
	r := u.req("POST", "/ui/channels/telegram/disable", url.Values{"csrf": {token}, "reason": {"bot token rotated"}})
	require.Equal(t, http.StatusSeeOther, r.status)
	skipped := u.send(`{"to":{"whatsapp":"+15551234567","telegram":"4242","email":"ana@example.com"},"body":"hi"}`)
	u.waitStatus(skipped, "delivered")

	u.signIn(readKey)
	r = u.get("/ui/messages/" + rejected)
	require.Equal(t, http.StatusOK, r.status)
	b := r.body
	require.Contains(t, b, "&#43;15551234567", "the full recipient on the detail page")
	require.Contains(t, b, "WhatsApp rejected the message: sim: recipient rejected, so we sent it by SMS.")
	require.Contains(t, b, `<span aria-hidden="true">✓</span> delivered</span>`)
	require.Contains(t, b, "by <strong>SMS</strong>")
	require.Contains(t, b, "fallback")
	require.Contains(t, b, "Provider id")
	require.Contains(t, b, "<dt>Sender</dt><dd><code>SWBOARD</code></dd>", "the SMS attempt's sender on the timeline")
	require.Equal(t, 1, strings.Count(b, "<dt>Sender</dt>"), "WhatsApp reported no sender")
	require.Contains(t, b, "permanent")
	require.Contains(t, b, "Status callbacks to the app")

	b = u.get("/ui/messages/" + silent).body
	require.Contains(t, b, "WhatsApp accepted the message but did not confirm delivery within 300ms, so we sent it by SMS.")

	b = u.get("/ui/messages/" + skipped).body
	require.Contains(t, b, "WhatsApp rejected the message: sim: recipient rejected, so we moved on to Telegram.")
	require.Contains(t, b, "Telegram was skipped: ops had switched it off (bot token rotated (ops, dashboard)), so we sent it by email.")

	r = u.get("/ui/messages/0193a7e0-1c2d-7e4f-8a9b-0c1d2e3f4a5b")
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, http.StatusNotFound, u.get("/ui/messages/nope").status)
}

func TestUILiveFragmentETag(t *testing.T) {
	t.Parallel()
	u := startUI(t)
	u.signIn(readKey)
	for _, path := range []string{"/ui/channels", "/ui/"} {
		r := u.get(path + "?fragment=1")
		require.Equal(t, http.StatusOK, r.status)
		require.NotContains(t, r.body, "<html", "a fragment, not a page")
		etag := r.header.Get("ETag")
		require.NotEmpty(t, etag)
		r = u.get(path+"?fragment=1", "If-None-Match", etag)
		require.Equal(t, http.StatusNotModified, r.status, path)
		require.Empty(t, r.body)
	}
	etag := u.get("/ui/?fragment=1").header.Get("ETag")
	id := u.send(`{"to":{"phone":"+15551234567"},"body":"x","policy":"otp"}`)
	r := u.get("/ui/?fragment=1", "If-None-Match", etag)
	require.Equal(t, http.StatusOK, r.status, "a new message changes the list")
	require.Contains(t, r.body, id)

	// The page names its live endpoint; static assets are embedded.
	require.Contains(t, u.get("/ui/").body, `data-live="/ui/"`)
	r = u.get("/ui/static/ui.js")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.header.Get("Content-Type"), "javascript")
	require.Contains(t, r.body, "If-None-Match")
	require.Equal(t, http.StatusNotModified, u.get("/ui/static/ui.js", "If-None-Match", r.header.Get("ETag")).status)
	require.Equal(t, http.StatusNotFound, u.get("/ui/static/nope.js").status)
}

// ---- sessions across instances ----

// uiFleet is the dashboard on several instances of one gateway config, as
// behind a load balancer: each instance is its own api.Server (nothing
// shared in memory) with its own clock, on its own loopback port, over the
// one store (PostgreSQL in production, SQLite here).
type uiFleet struct {
	g     *gateway.Gateway
	yml   string
	start time.Time
}

func startUIFleet(t *testing.T) *uiFleet {
	t.Helper()
	g, _, yml := startUIGateway(t)
	return &uiFleet{g: g, yml: yml, start: time.Now()}
}

// uiInstance is one instance of the fleet and a browser talking to it.
type uiInstance struct {
	*uiClient
	srv   *api.Server
	clock *uiClock
}

type uiClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *uiClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *uiClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// config parses the fleet's config after replacing old with new in it
// (both empty: as it is).
func (f *uiFleet) config(t *testing.T, old, new string) *config.Config {
	t.Helper()
	require.Contains(t, f.yml, old)
	cfg, err := config.Parse("test.yaml", []byte(strings.Replace(f.yml, old, new, 1)))
	require.NoError(t, err)
	return cfg
}

// instance starts one more instance of the fleet's config.
func (f *uiFleet) instance(t *testing.T) *uiInstance {
	t.Helper()
	clock := &uiClock{now: f.start}
	srv := api.New(api.Deps{Config: f.config(t, "", ""), Store: f.g.Store, Dispatch: f.g.Dispatcher,
		Health: f.g.Health, Logger: slog.New(slog.DiscardHandler), Now: clock.Now})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return &uiInstance{uiClient: newUIClient(t, "http://"+ln.Addr().String()), srv: srv, clock: clock}
}

// signedIn says whether the instance takes the cookie value. Signed out
// has exactly two answers: a poll gets 401 and a page goes to the sign-in
// form. Anything else (a 500 above all) fails the test.
func (in *uiInstance) signedIn(value string) bool {
	in.t.Helper()
	in.cookie = &http.Cookie{Name: "sb_session", Value: value}
	r := in.get("/ui/channels?fragment=1")
	switch r.status {
	case http.StatusOK:
		return true
	case http.StatusUnauthorized:
		require.Contains(in.t, r.body, "Your session has ended. Sign in again.")
		r = in.get("/ui/channels")
		require.Equal(in.t, http.StatusSeeOther, r.status)
		require.Equal(in.t, "/ui/login?next=%2Fui%2Fchannels", r.header.Get("Location"))
		return false
	}
	in.t.Fatalf("cookie %q: status %d: %s", value, r.status, r.body)
	return false
}

// forgeSession signs a session cookie the way api/ui ("sessions")
// does, from a key's value: the test's own copy of the format, so that a
// change to it is deliberate, and so that a well-signed cookie can carry
// what the gateway would never sign.
func forgeSession(keyValue string, version byte, expires time.Time, role, name string) string {
	sum := sha256.Sum256([]byte(keyValue))
	k := hmac.New(sha256.New, sum[:])
	k.Write([]byte("switchboard dashboard session v1"))
	p := []byte{version}
	p = binary.BigEndian.AppendUint64(p, uint64(expires.Unix()))
	p = append(p, make([]byte, 16)...)
	_, _ = rand.Read(p[len(p)-16:])
	p = append(p, byte(len(role)))
	p = append(p, role...)
	p = append(p, name...)
	mac := hmac.New(sha256.New, k.Sum(nil))
	mac.Write(p)
	return base64.RawURLEncoding.EncodeToString(p) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// tamper decodes one part of a cookie (0: payload, 1: MAC), lets edit
// change it and encodes it again.
func tamper(t *testing.T, value string, part int, edit func([]byte)) string {
	t.Helper()
	parts := strings.Split(value, ".")
	require.Len(t, parts, 2)
	b, err := base64.RawURLEncoding.DecodeString(parts[part])
	require.NoError(t, err)
	edit(b)
	parts[part] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func TestUISessionAcrossInstances(t *testing.T) {
	t.Parallel()
	f := startUIFleet(t)
	a, b := f.instance(t), f.instance(t)

	a.signIn(adminKey)
	cookie := a.cookie.Value
	require.True(t, b.signedIn(cookie), "signed in on A, the next request lands on B")
	r := b.get("/ui/channels")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, "ops <span class=\"role\">admin</span>")

	// The CSRF token is the session's, not the instance's.
	token := a.csrf()
	require.Equal(t, token, b.csrf())
	r = b.req("POST", "/ui/channels/sms/disable", url.Values{"csrf": {token}, "reason": {"INC-9"}})
	require.Equal(t, http.StatusSeeOther, r.status, "a token from A's page works on B")
	require.Contains(t, a.get("/ui/channels").body, "Enable sms")
	other := &uiInstance{uiClient: newUIClient(t, a.base), srv: a.srv, clock: a.clock}
	other.signIn(adminKey) // the same key, another session
	for _, wrong := range []string{"", "wrong", token + "x", other.csrf()} {
		r = b.req("POST", "/ui/channels/sms/enable", url.Values{"csrf": {wrong}})
		require.Equal(t, http.StatusForbidden, r.status, "token %q", wrong)
		require.Contains(t, r.body, "The form was out of date")
	}
	r = a.req("POST", "/ui/channels/sms/enable", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusSeeOther, r.status)
	require.Contains(t, b.get("/ui/channels").body, "Disable sms")

	// Sign-out on A: A refuses the old cookie from then on.
	r = a.req("POST", "/ui/logout", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusSeeOther, r.status)
	cleared := sessionCookie(r.header)
	require.NotNil(t, cleared)
	require.Empty(t, cleared.Value)
	require.Less(t, cleared.MaxAge, 0)
	require.False(t, a.signedIn(cookie), "a copy of the signed-out cookie, on the instance that signed it out")
	r = a.req("POST", "/ui/logout", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusUnauthorized, r.status, "signed out already")
	require.True(t, other.signedIn(other.cookie.Value), "other sessions of the key go on")
	// The limit README "Support dashboard" states: B was not told, so a
	// copy of the cookie works there until it expires, unless the key is
	// rotated or removed.
	require.True(t, b.signedIn(cookie))
	b.clock.Add(12 * time.Hour)
	require.False(t, b.signedIn(cookie))
}

func TestUISessionSignedOut(t *testing.T) {
	t.Parallel()
	f := startUIFleet(t)
	const support = "    - {name: support, key: " + readKey + ", role: read}\n"
	reload := func(old, new string) func(*testing.T, *uiInstance) {
		return func(t *testing.T, b *uiInstance) { b.srv.SetConfig(f.config(t, old, new)) }
	}
	in := f.start.Add(time.Hour)
	for _, tc := range []struct {
		name   string
		cookie func(t *testing.T, signed string) string // from a real one, signed by A for "support"
		then   func(t *testing.T, b *uiInstance)        // on B, before it sees the cookie
		in     bool
	}{
		{name: "the cookie A signed", in: true},
		{name: "signed from the key's value (the format)", in: true,
			cookie: func(*testing.T, string) string { return forgeSession(readKey, 1, in, "read", "support") }},
		{name: "a second before it expires", in: true,
			then: func(_ *testing.T, b *uiInstance) { b.clock.Add(12*time.Hour - time.Second) }},
		{name: "expired",
			then: func(_ *testing.T, b *uiInstance) { b.clock.Add(12 * time.Hour) }},
		{name: "payload tampered with (expiry a second later)",
			cookie: func(t *testing.T, v string) string { return tamper(t, v, 0, func(p []byte) { p[8]++ }) }},
		{name: "payload tampered with (role)",
			cookie: func(t *testing.T, v string) string {
				return tamper(t, v, 0, func(p []byte) { copy(p[26:], "ADMI") })
			}},
		{name: "MAC tampered with",
			cookie: func(t *testing.T, v string) string { return tamper(t, v, 1, func(m []byte) { m[31] ^= 1 }) }},
		{name: "wrong version",
			cookie: func(*testing.T, string) string { return forgeSession(readKey, 2, in, "read", "support") }},
		{name: "version 0",
			cookie: func(*testing.T, string) string { return forgeSession(readKey, 0, in, "read", "support") }},
		{name: "expiry further ahead than a session lasts",
			cookie: func(*testing.T, string) string {
				return forgeSession(readKey, 1, f.start.Add(13*time.Hour), "read", "support")
			}},
		{name: "key removed by a reload", then: reload(support, "")},
		{name: "key demoted to send by a reload", then: reload(support, strings.Replace(support, "role: read", "role: send", 1))},
		{name: "key's role changed to admin by a reload", then: reload(support, strings.Replace(support, "role: read", "role: admin", 1))},
		{name: "key's value rotated by a reload", then: reload(support, strings.Replace(support, readKey, readKey+"-rotated", 1))},
		{name: "another gateway's key of the same name",
			cookie: func(*testing.T, string) string {
				return forgeSession("another-gateways-key-0123456789", 1, in, "read", "support")
			}},
		{name: "a key name the config does not have",
			cookie: func(*testing.T, string) string { return forgeSession(readKey, 1, in, "read", "nobody") }},
		{name: "a send key signing for itself",
			cookie: func(*testing.T, string) string { return forgeSession(sendKey, 1, in, "send", "shop") }},
		{name: "empty", cookie: func(*testing.T, string) string { return "" }},
		{name: "no MAC", cookie: func(_ *testing.T, v string) string { return strings.Split(v, ".")[0] }},
		{name: "MAC cut short", cookie: func(_ *testing.T, v string) string { return v[:len(v)-2] }},
		{name: "a third part", cookie: func(_ *testing.T, v string) string { return v + ".AAAA" }},
		{name: "not base64", cookie: func(_ *testing.T, v string) string { return "!" + v[1:] }},
		{name: "a session id of the old kind", cookie: func(*testing.T, string) string { return strings.Repeat("A", 43) }},
		{name: "too long", cookie: func(_ *testing.T, v string) string { return v + strings.Repeat("A", 5000) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := f.instance(t), f.instance(t)
			a.signIn(readKey)
			cookie := a.cookie.Value
			require.True(t, a.signedIn(cookie))
			if tc.cookie != nil {
				cookie = tc.cookie(t, cookie)
			}
			if tc.then != nil {
				tc.then(t, b)
			}
			require.Equal(t, tc.in, b.signedIn(cookie))
		})
	}
}

// FuzzUISessionCookie sends any cookie value to the dashboard: it is
// signed out (401) unless it is, byte for byte, a cookie signed for one of
// the config's keys (checked against forgeSession's format, not the
// server's code), and nothing is a 500 (a panic would be one). The server
// is called in process: an HTTP client would refuse most values before
// they left.
func FuzzUISessionCookie(f *testing.F) {
	cfg, err := config.Parse("test.yaml", []byte(strings.ReplaceAll(uiConfig, "%DSN%", filepath.Join(f.TempDir(), "sb.db"))))
	require.NoError(f, err)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	// Only config, clock and logger: the probe below, a message page with
	// an id that is not one, touches neither store nor router.
	srv := api.New(api.Deps{Config: cfg, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
	req := httptest.NewRequest("POST", "/ui/login", strings.NewReader(url.Values{"key": {readKey}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	require.Equal(f, http.StatusSeeOther, rec.Code)
	signed := sessionCookie(rec.Header())
	require.NotNil(f, signed)
	valid := signed.Value
	require.True(f, signedByAKey(valid))

	p, m, _ := strings.Cut(valid, ".")
	for _, seed := range []string{
		valid, "", ".", "..", p, p + ".", "." + m, m + "." + p, valid + "=", valid + "A",
		"A" + valid, strings.ToUpper(valid), valid[:len(valid)-1], "AQ.AQ",
		valid + "\n", p + "\n." + m, p + ".\r" + m,
		forgeSession(readKey, 2, now.Add(time.Hour), "read", "support"),
		forgeSession(readKey, 1, now.Add(-time.Hour), "read", "support"),
		forgeSession(readKey, 1, now.Add(time.Hour), "", "support"),
		forgeSession(readKey, 1, now.Add(time.Hour), "readsupport", ""),
		`"` + valid + `"`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		req := httptest.NewRequest("GET", "/ui/messages/not-an-id?fragment=1", nil)
		req.Header.Set("Cookie", "sb_session="+value)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusUnauthorized: // signed out
		case http.StatusNotFound: // signed in: there is no such message
			seen, err := req.Cookie("sb_session")
			require.NoError(t, err)
			require.True(t, signedByAKey(seen.Value), "only a cookie signed for a key opens a session: %q", seen.Value)
		default:
			t.Fatalf("cookie %q: status %d: %s", value, rec.Code, rec.Body)
		}
	})
}

// signedByAKey says whether value is the canonical spelling of a payload
// and its MAC under one of uiConfig's keys (forgeSession's format).
func signedByAKey(value string) bool {
	p, _, ok := strings.Cut(value, ".")
	if !ok {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return false
	}
	for _, key := range []string{sendKey, readKey, adminKey} {
		sum := sha256.Sum256([]byte(key))
		k := hmac.New(sha256.New, sum[:])
		k.Write([]byte("switchboard dashboard session v1"))
		mac := hmac.New(sha256.New, k.Sum(nil))
		mac.Write(payload)
		if value == base64.RawURLEncoding.EncodeToString(payload)+"."+base64.RawURLEncoding.EncodeToString(mac.Sum(nil)) {
			return true
		}
	}
	return false
}
