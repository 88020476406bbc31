package api_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
	"github.com/switchboard-gw/switchboard/internal/syncbuf"
)

const crmKey = "test-crm-key-0123456789"

// limitsConfig has a rate-limited send key (shop: 1/s, burst 3) and an
// unlimited one (crm). %PROXIES% is server.trusted_proxies.
const limitsConfig = `
server: {listen: "127.0.0.1:0", trusted_proxies: [%PROXIES%]}
store: {driver: sqlite, dsn: "%DSN%"}
auth:
  keys:
    - {name: shop, key: ` + sendKey + `, role: send, rate: 1/s, burst: 3}
    - {name: crm, key: ` + crmKey + `, role: send}
    - {name: support, key: ` + readKey + `, role: read}
    - {name: ops, key: ` + adminKey + `, role: admin}
channels:
  whatsapp: {type: sim, kind: whatsapp, receipt_delay: 5ms, probe: {interval: 1h}}
  sms:      {type: sim, kind: sms, receipt_delay: 5ms, probe: {interval: 1h}}
policies:
  - name: default
    route: [whatsapp, sms]
`

// fakeClock is the gateway's limit clock (gateway.Options.LimitClock).
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type limitsGateway struct {
	*testBundle
	clock *fakeClock
	path  string      // the config file (POST /-/reload re-reads it)
	logs  *syncBuffer // the gateway's log (text)
}

type syncBuffer = syncbuf.Buffer

// startLimits runs a gateway on yml from a config file, with a fake limit
// clock.
func startLimits(t *testing.T, yml string) *limitsGateway {
	t.Helper()
	dir := t.TempDir()
	yml = strings.ReplaceAll(yml, "%DSN%", filepath.Join(dir, "sb.db"))
	path := filepath.Join(dir, "switchboard.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yml), 0o600))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	clock := &fakeClock{now: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), ConfigFile: path, LimitClock: clock.Now})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return &limitsGateway{
		testBundle: &testBundle{base: "http://" + ln.Addr().String(), http: &http.Client{Timeout: 10 * time.Second}},
		clock:      clock, path: path, logs: logs,
	}
}

func limitsYAML(proxies string) string { return strings.ReplaceAll(limitsConfig, "%PROXIES%", proxies) }

// metric scrapes GET /metrics and returns the value of one series, written
// as in the exposition format (`name{label="v"}`); 0 when it is absent.
func (tb *testBundle) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := tb.http.Get(tb.base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return f
		}
	}
	require.NoError(t, sc.Err())
	return 0
}

func requireCode(t *testing.T, r response, status int, code string) {
	t.Helper()
	require.Equal(t, status, r.status, r.raw)
	got, _ := errField(r)
	require.Equal(t, code, got, r.raw)
}

func batchOf(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`{"to":{"phone":"+1555123%04d"},"body":"item %d"}`, i, i)
	}
	return `{"messages":[` + strings.Join(items, ",") + `]}`
}

func TestKeyRateLimit(t *testing.T) {
	t.Parallel()
	tb := startLimits(t, limitsYAML(""))

	// The burst (3), then 429 with Retry-After in whole seconds.
	for i := range 3 {
		r := tb.do(t, http.MethodPost, "/v1/messages", sendKey, otp)
		require.Equal(t, http.StatusAccepted, r.status, "send %d: %s", i, r.raw)
	}
	r := tb.do(t, http.MethodPost, "/v1/messages", sendKey, otp)
	requireCode(t, r, http.StatusTooManyRequests, "rate_limited")
	require.Equal(t, "1", r.header.Get("Retry-After"))
	require.Contains(t, r.raw, `\"shop\"`, "the message names the key")
	require.Contains(t, r.raw, "1/s")

	// Other keys have their own buckets; crm has no limit at all.
	for range 10 {
		require.Equal(t, http.StatusAccepted, tb.do(t, http.MethodPost, "/v1/messages", crmKey, otp).status)
	}
	// Explain sends nothing and is not limited.
	require.Equal(t, http.StatusOK, tb.do(t, http.MethodPost, "/v1/routes/explain", sendKey, otp).status)

	// One second later: one token.
	tb.clock.Add(time.Second)
	require.Equal(t, http.StatusAccepted, tb.do(t, http.MethodPost, "/v1/messages", sendKey, otp).status)
	requireCode(t, tb.do(t, http.MethodPost, "/v1/messages", sendKey, otp), http.StatusTooManyRequests, "rate_limited")

	// Two seconds later a batch of 4 has 2 tokens: items 0 and 1 are
	// accepted, 2 and 3 refused, each with its own error.
	tb.clock.Add(2 * time.Second)
	r = tb.do(t, http.MethodPost, "/v1/messages/batch", sendKey, batchOf(4))
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.EqualValues(t, 2, r.body["accepted"], r.raw)
	require.EqualValues(t, 2, r.body["rejected"], r.raw)
	for i, res := range r.body["results"].([]any) {
		item := res.(map[string]any)
		require.EqualValues(t, i, item["index"])
		if i < 2 {
			require.NotEmpty(t, item["id"], r.raw)
			require.Nil(t, item["error"])
			continue
		}
		require.Equal(t, "rate_limited", item["error"].(map[string]any)["code"], r.raw)
		require.Empty(t, item["id"])
	}
	// With no token at all, the whole batch is a 429.
	r = tb.do(t, http.MethodPost, "/v1/messages/batch", sendKey, batchOf(3))
	requireCode(t, r, http.StatusTooManyRequests, "rate_limited")
	require.Equal(t, "1", r.header.Get("Retry-After"))

	// 1 + 1 refused sends, 2 refused items, a refused batch of 3.
	require.Equal(t, 7.0, tb.metric(t, `switchboard_api_rate_limited_total{key="shop"}`))
	require.Equal(t, 0.0, tb.metric(t, `switchboard_api_rate_limited_total{key="crm"}`))
}

func TestKeyRateLimitReload(t *testing.T) {
	t.Parallel()
	yml := strings.NewReplacer(
		"rate: 1/s, burst: 3", "rate: 1/m",
		"{name: crm, key: "+crmKey+", role: send}", "{name: crm, key: "+crmKey+", role: send, rate: 1/h}",
	).Replace(limitsYAML(""))
	tb := startLimits(t, yml)
	for _, key := range []string{sendKey, crmKey} {
		require.Equal(t, http.StatusAccepted, tb.do(t, http.MethodPost, "/v1/messages", key, otp).status)
	}
	r := tb.do(t, http.MethodPost, "/v1/messages", sendKey, otp)
	requireCode(t, r, http.StatusTooManyRequests, "rate_limited")
	require.Equal(t, "60", r.header.Get("Retry-After"))
	r = tb.do(t, http.MethodPost, "/v1/messages", crmKey, otp)
	require.Equal(t, "3600", r.header.Get("Retry-After"))

	// Raise shop's rate; crm's stays as it was.
	data, err := os.ReadFile(tb.path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(tb.path, []byte(strings.Replace(string(data), "rate: 1/m", "rate: 10/s", 1)), 0o600))
	r = tb.do(t, http.MethodPost, "/-/reload", adminKey, "")
	require.Equal(t, http.StatusOK, r.status, r.raw)
	require.Equal(t, "~ API key shop: rate: 1/m burst 1 → 10/s burst 10", r.body["summary"])

	// The new rate is in force at once: the next token is 100 ms away, not
	// a minute. The bucket starts from what it held (empty), so a reload
	// never hands out a fresh burst.
	r = tb.do(t, http.MethodPost, "/v1/messages", sendKey, otp)
	requireCode(t, r, http.StatusTooManyRequests, "rate_limited")
	require.Equal(t, "1", r.header.Get("Retry-After"))
	tb.clock.Add(time.Second)
	for range 10 {
		require.Equal(t, http.StatusAccepted, tb.do(t, http.MethodPost, "/v1/messages", sendKey, otp).status)
	}
	// crm, unchanged, kept its spent bucket.
	r = tb.do(t, http.MethodPost, "/v1/messages", crmKey, otp)
	requireCode(t, r, http.StatusTooManyRequests, "rate_limited")
	require.Equal(t, "3599", r.header.Get("Retry-After"))
}

const badKey = "wrong-key-0123456789abcdef"

func TestAuthFailureThrottle(t *testing.T) {
	t.Parallel()
	tb := startLimits(t, limitsYAML("127.0.0.1"))
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	attacker, neighbour := from("198.51.100.7"), from("198.51.100.8")

	for i := range 20 {
		r := tb.do(t, http.MethodGet, "/v1/channels", badKey, "", attacker...)
		require.Equal(t, http.StatusUnauthorized, r.status, "failure %d: %s", i+1, r.raw)
	}
	// The 21st is refused before its key is looked at, even a good one.
	r := tb.do(t, http.MethodGet, "/v1/channels", badKey, "", attacker...)
	requireCode(t, r, http.StatusTooManyRequests, "too_many_auth_failures")
	require.Equal(t, "60", r.header.Get("Retry-After"))
	r = tb.do(t, http.MethodGet, "/v1/channels", readKey, "", attacker...)
	requireCode(t, r, http.StatusTooManyRequests, "too_many_auth_failures")
	requireCode(t, tb.do(t, http.MethodPost, "/v1/messages", sendKey, otp, attacker...), http.StatusTooManyRequests, "too_many_auth_failures")
	// The dashboard sign-in too.
	form := url.Values{"key": {adminKey}, "next": {"/ui/"}}
	ui, page := tb.form(t, "/ui/login", form, attacker...)
	require.Equal(t, http.StatusTooManyRequests, ui.StatusCode)
	require.Equal(t, "60", ui.Header.Get("Retry-After"))
	require.Contains(t, page, "Too many failed sign-ins from your address")
	require.Nil(t, sessionCookie(ui.Header), "no session while blocked")

	// Another client behind the same proxy is not affected, nor are
	// routes that take no key.
	require.Equal(t, http.StatusOK, tb.do(t, http.MethodGet, "/v1/channels", readKey, "", neighbour...).status)
	require.Equal(t, http.StatusOK, tb.do(t, http.MethodGet, "/healthz", "", "", attacker...).status)

	// A minute later the address may try again.
	tb.clock.Add(30 * time.Second)
	r = tb.do(t, http.MethodGet, "/v1/channels", readKey, "", attacker...)
	require.Equal(t, "30", r.header.Get("Retry-After"))
	tb.clock.Add(30 * time.Second)
	require.Equal(t, http.StatusOK, tb.do(t, http.MethodGet, "/v1/channels", readKey, "", attacker...).status)

	// A missing key and a key of the wrong role count, but do not block.
	for range 25 {
		requireCode(t, tb.do(t, http.MethodGet, "/v1/channels", "", "", neighbour...), http.StatusUnauthorized, "unauthorized")
		requireCode(t, tb.do(t, http.MethodGet, "/v1/channels", sendKey, "", neighbour...), http.StatusForbidden, "forbidden")
	}
	require.Equal(t, http.StatusOK, tb.do(t, http.MethodGet, "/v1/channels", readKey, "", neighbour...).status)

	require.Equal(t, 20.0, tb.metric(t, `switchboard_auth_failures_total{reason="invalid"}`))
	require.Equal(t, 5.0, tb.metric(t, `switchboard_auth_failures_total{reason="blocked"}`))
	require.Equal(t, 25.0, tb.metric(t, `switchboard_auth_failures_total{reason="missing"}`))
	require.Equal(t, 25.0, tb.metric(t, `switchboard_auth_failures_total{reason="forbidden"}`))

	// Logged at WARN, one line per address per minute, never the key.
	logs := tb.logs.String()
	require.Equal(t, 1, strings.Count(logs, `msg="authentication failed" client=198.51.100.7`), logs)
	require.Contains(t, logs, `level=WARN msg="client blocked after repeated authentication failures" client=198.51.100.7`)
	require.Contains(t, logs, "key_prefix="+badKey[:4]+" ")
	require.NotContains(t, logs, badKey[:5])
	require.Contains(t, logs, `msg="authentication failed" client=198.51.100.8 reason=missing`)
}

// TestAuthFailureThrottleUntrustedProxy: with no trusted proxy,
// X-Forwarded-For is the client's own claim and is ignored, so changing it
// does not escape a block; failed dashboard sign-ins count with API ones.
func TestAuthFailureThrottleUntrustedProxy(t *testing.T) {
	t.Parallel()
	tb := startLimits(t, limitsYAML(""))
	for i := range 10 {
		r := tb.do(t, http.MethodGet, "/v1/channels", badKey, "", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		require.Equal(t, http.StatusUnauthorized, r.status, r.raw)
		ui, _ := tb.form(t, "/ui/login", url.Values{"key": {badKey}}, "X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i))
		require.Equal(t, http.StatusUnauthorized, ui.StatusCode)
	}
	r := tb.do(t, http.MethodGet, "/v1/channels", readKey, "", "X-Forwarded-For", "198.51.100.99")
	requireCode(t, r, http.StatusTooManyRequests, "too_many_auth_failures")
	ui, _ := tb.form(t, "/ui/login", url.Values{"key": {readKey}})
	require.Equal(t, http.StatusTooManyRequests, ui.StatusCode)
	require.Equal(t, 20.0, tb.metric(t, `switchboard_auth_failures_total{reason="invalid"}`))
}

// sessionCookie is the dashboard's session cookie a response sets, if any.
func sessionCookie(h http.Header) *http.Cookie {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == "sb_session" {
			return c
		}
	}
	return nil
}

// form posts a dashboard form (same origin: no Origin header).
func (tb *testBundle) form(t *testing.T, path string, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, tb.base+path, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := *tb.http
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

// TestOpenAPIAbuseLimits validates the 429s of the rate limit and of the
// failed-authentication throttle against api/openapi.json.
func TestOpenAPIAbuseLimits(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	tb := startLimits(t, limitsYAML(""))
	doc.Servers = openapi3.Servers{{URL: tb.base}}
	router, err := gorillamux.NewRouter(doc)
	require.NoError(t, err)
	sc := &specClient{t: t, base: tb.base, router: router, http: tb.http, seen: map[string]bool{}}

	sc.do(call{method: "POST", path: "/v1/messages/batch", key: sendKey, body: batchOf(2), want: 200})
	b := sc.do(call{method: "POST", path: "/v1/messages/batch", key: sendKey, body: batchOf(2), want: 200})
	require.EqualValues(t, 1, b.body["accepted"], string(b.raw))
	r := sc.do(call{method: "POST", path: "/v1/messages", key: sendKey, body: otp, want: 429})
	require.Equal(t, "rate_limited", r.code())
	r = sc.do(call{method: "POST", path: "/v1/messages/batch", key: sendKey, body: batchOf(2), want: 429})
	require.Equal(t, "rate_limited", r.code())

	for range 20 {
		sc.do(call{method: "GET", path: "/v1/channels", key: badKey, want: 401})
	}
	for _, c := range []call{
		{method: "GET", path: "/v1/channels", key: readKey, want: 429},
		{method: "POST", path: "/v1/messages", key: crmKey, body: otp, want: 429},
		{method: "POST", path: "/v1/messages/batch", key: crmKey, body: batchOf(1), want: 429},
		{method: "GET", path: "/v1/messages", key: readKey, want: 429},
		{method: "GET", path: "/v1/messages/0193a7e0-0000-7000-8000-000000000000", key: readKey, want: 429},
		{method: "POST", path: "/v1/channels/sms/disable", key: adminKey, want: 429},
		{method: "POST", path: "/v1/channels/sms/enable", key: adminKey, want: 429},
		{method: "POST", path: "/v1/channels/sms/sim", key: adminKey, body: `{"mode":"up"}`, want: 429},
		{method: "POST", path: "/v1/routes/explain", key: sendKey, body: otp, want: 429},
		{method: "POST", path: "/-/reload", key: adminKey, want: 429},
	} {
		r := sc.do(c)
		require.Equal(t, "too_many_auth_failures", r.code(), "%s %s", c.method, c.path)
	}
}
