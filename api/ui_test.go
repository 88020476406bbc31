package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
)

// uiConfig is testConfig with receipt deadlines (for no_receipt failovers)
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
  sms:      {type: sim, kind: sms, receipt_delay: 5ms, probe: {interval: 1h}}
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
	dsn := filepath.Join(t.TempDir(), "sb.db")
	cfg, err := config.Parse("test.yaml", []byte(strings.ReplaceAll(uiConfig, "%DSN%", dsn)))
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
	return &uiClient{t: t, base: "http://" + ln.Addr().String(), http: &http.Client{
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
		require.NotContains(t, ck.Value, key, "the cookie holds a session id, never the key")
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
