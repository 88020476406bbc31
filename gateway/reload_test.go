package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
	"github.com/switchboard-gw/switchboard/internal/syncbuf"
	"github.com/switchboard-gw/switchboard/pii"
)

const (
	sendKey  = "test-send-key-0123456789"
	readKey  = "test-read-key-0123456789"
	adminKey = "test-admin-key-0123456789"
)

// baseConfig: probes every hour (the first runs at start), so tests drive
// channel state through sends and the API, not probe timing.
const baseConfig = `
store: {driver: sqlite, dsn: "%DSN%"}
dispatch: {poll: 20ms}
auth:
  keys:
    - {name: shop, key: ` + sendKey + `, role: send}
    - {name: support, key: ` + readKey + `, role: read}
    - {name: ops, key: ` + adminKey + `, role: admin}
channels:
  whatsapp: {type: sim, kind: whatsapp, latency: 0s, receipt_delay: 5ms, retry: {attempts: 1}, breaker: {failures: 2, open_for: 1h}, probe: {interval: 1h}}
  sms:      {type: sim, kind: sms, latency: 0s, receipt_delay: 5ms, probe: {interval: 1h}}
  email:    {type: sim, kind: email, latency: 0s, receipt_delay: 5ms, probe: {interval: 1h}}
policies:
  - name: otp
    match: {tags: [otp]}
    route: [whatsapp, sms, email]
  - name: default
    route: [whatsapp, email]
# The tests' callback receivers (httptest) listen on 127.0.0.1.
callbacks: {allow_hosts: [127.0.0.1/32]}
`

const otpBody = `{"to":{"whatsapp":"+15551234567","phone":"+15551234567","email":"ana@example.com","telegram":"12345"},"body":"Your code is 123456","tags":["otp"]}`

// Bounds for polling; waits poll, they never sleep and hope.
const (
	pollEvery = 20 * time.Millisecond
	waitFor   = 15 * time.Second
)

type testBundle struct {
	g    *gateway.Gateway
	path string
	dsn  string
	base string
	http *http.Client
	logs *lockedBuffer
}

type lockedBuffer = syncbuf.Buffer

// setup writes yml (with %DSN% filled in) to a file, and runs a gateway on
// it on a 127.0.0.1 listener until the test ends.
func setup(t *testing.T, yml string, watch bool) *testBundle {
	t.Helper()
	return setupLogged(t, yml, watch, nil)
}

// setupLogged is setup with the log level in lv (nil: info), which the
// config's log.level sets, like serve's logger, masking included.
func setupLogged(t *testing.T, yml string, watch bool, lv *slog.LevelVar) *testBundle {
	t.Helper()
	tb := newBundle(t, yml)
	tb.build(t, tb.load(t), watch, lv)
	tb.run(t)
	return tb
}

// newBundle writes yml (with %DSN% filled in) to a file in a new
// directory. build and run start a gateway on it, in two steps for tests
// that act in between.
func newBundle(t *testing.T, yml string) *testBundle {
	t.Helper()
	dir := t.TempDir()
	tb := &testBundle{path: filepath.Join(dir, "switchboard.yaml"), dsn: filepath.Join(dir, "sb.db"), http: &http.Client{Timeout: 10 * time.Second}, logs: &lockedBuffer{}}
	tb.write(t, yml)
	return tb
}

// load loads the config file, as serve does before it builds the gateway.
func (tb *testBundle) load(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load(tb.path)
	require.NoError(t, err)
	return cfg
}

// build builds a gateway from cfg, loaded from tb's file (gateway.New:
// the store opens), logging to tb.logs at lv (nil: info).
func (tb *testBundle) build(t *testing.T, cfg *config.Config, watch bool, lv *slog.LevelVar) {
	t.Helper()
	var level slog.Leveler = slog.LevelInfo
	if lv != nil {
		level = lv
	}
	log := slog.New(pii.NewHandler(slog.NewTextHandler(tb.logs, &slog.HandlerOptions{Level: level})))
	g, err := gateway.New(context.Background(), cfg, gateway.Options{Logger: log, LogLevel: lv, ConfigFile: tb.path, WatchConfig: watch})
	require.NoError(t, err)
	tb.g = g
}

// run runs the built gateway on a 127.0.0.1 listener until the test ends.
func (tb *testBundle) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- tb.g.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		if t.Failed() {
			t.Logf("gateway log:\n%s", tb.logs)
		}
	})
	tb.base = "http://" + ln.Addr().String()
}

// write replaces the config file the way editors and deploy tools do: a
// new file renamed over the old one.
func (tb *testBundle) write(t *testing.T, yml string) {
	t.Helper()
	tmp := tb.path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(strings.ReplaceAll(yml, "%DSN%", tb.dsn)), 0o600))
	require.NoError(t, os.Rename(tmp, tb.path))
}

func (tb *testBundle) do(t *testing.T, method, path, key, body string) (int, map[string]any) {
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
	resp, err := tb.http.Do(req)
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

func (tb *testBundle) reload(t *testing.T) (int, map[string]any) {
	t.Helper()
	return tb.do(t, http.MethodPost, "/-/reload", adminKey, "")
}

func (tb *testBundle) send(t *testing.T, body string) string {
	t.Helper()
	status, out := tb.do(t, http.MethodPost, "/v1/messages", sendKey, body)
	require.Equal(t, http.StatusAccepted, status, "%v", out)
	return out["id"].(string)
}

// waitMessage polls the message until cond holds.
func (tb *testBundle) waitMessage(t *testing.T, id string, what string, cond func(m map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		status, m := tb.do(t, http.MethodGet, "/v1/messages/"+id, readKey, "")
		require.Equal(t, http.StatusOK, status)
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s: not %s within %s: %v", id, what, waitFor, m)
		}
		time.Sleep(pollEvery)
	}
}

func sentOn(channel string) func(map[string]any) bool {
	return func(m map[string]any) bool {
		st := m["status"]
		return m["channel"] == channel && (st == "sent" || st == "delivered")
	}
}

func (tb *testBundle) channel(t *testing.T, name string) map[string]any {
	t.Helper()
	status, out := tb.do(t, http.MethodGet, "/v1/channels", readKey, "")
	require.Equal(t, http.StatusOK, status)
	for _, c := range out["channels"].([]any) {
		if c := c.(map[string]any); c["name"] == name {
			return c
		}
	}
	return nil
}

// metric scrapes /metrics for one unlabelled sample.
func (tb *testBundle) metric(t *testing.T, name string) string {
	t.Helper()
	resp, err := tb.http.Get(tb.base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	require.NoError(t, sc.Err())
	t.Fatalf("no sample %s in /metrics", name)
	return ""
}

func edit(t *testing.T, yml string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		require.Contains(t, yml, pairs[i])
		yml = strings.Replace(yml, pairs[i], pairs[i+1], 1)
	}
	return yml
}

func TestReloadAddsChannelAndChangesRoute(t *testing.T) {
	t.Parallel()
	tb := setup(t, baseConfig, false)
	whatsapp := tb.g.Dispatcher.Router().Lane("whatsapp")

	tb.write(t, edit(t, baseConfig,
		"channels:\n", "channels:\n  telegram: {type: sim, kind: telegram, latency: 0s, receipt_delay: 5ms, probe: {interval: 1h}}\n",
		"route: [whatsapp, sms, email]", "route: [telegram, sms]",
	))
	status, out := tb.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Equal(t, "reloaded", out["status"])
	require.Equal(t, "+ channel telegram\n~ policy otp: route: [whatsapp, sms, email] → [telegram, sms]", out["summary"])

	id := tb.send(t, otpBody)
	m := tb.waitMessage(t, id, "sent on telegram", sentOn("telegram"))
	require.Equal(t, []any{"telegram", "sms"}, m["route"], "new messages take the new route")
	require.Same(t, whatsapp, tb.g.Dispatcher.Router().Lane("whatsapp"), "an unchanged channel keeps its lane")
	require.Equal(t, "1", tb.metric(t, "switchboard_config_last_reload_successful"))
	require.Contains(t, tb.logs.String(), "config reloaded")

	// Reloading the same file again changes nothing.
	status, out = tb.reload(t)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "unchanged", out["status"])
	require.Equal(t, "no changes", out["summary"])
}

func TestReloadKeepsBreakerAndOverride(t *testing.T) {
	t.Parallel()
	tb := setup(t, baseConfig, false)
	status, _ := tb.do(t, http.MethodPost, "/v1/channels/whatsapp/sim", adminKey, `{"mode":"down"}`)
	require.Equal(t, http.StatusOK, status)
	// Two failed sends in a row (one try each) open whatsapp's breaker.
	for range 2 {
		id := tb.send(t, otpBody)
		tb.waitMessage(t, id, "sent on sms", sentOn("sms"))
	}
	require.Equal(t, "open", tb.channel(t, "whatsapp")["breaker"])
	status, _ = tb.do(t, http.MethodPost, "/v1/channels/email/disable", adminKey, `{"reason":"drill"}`)
	require.Equal(t, http.StatusOK, status)
	whatsapp, email := tb.g.Dispatcher.Router().Lane("whatsapp"), tb.g.Dispatcher.Router().Lane("email")

	// email changes (a new lane), whatsapp does not, a policy does.
	tb.write(t, edit(t, baseConfig,
		"email:    {type: sim, kind: email, latency: 0s,", "email:    {type: sim, kind: email, latency: 1ms,",
		"route: [whatsapp, email]", "route: [email, whatsapp]",
	))
	status, out := tb.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Equal(t, "~ channel email: latency changed\n~ policy default: route: [whatsapp, email] → [email, whatsapp]", out["summary"])

	r := tb.g.Dispatcher.Router()
	require.Same(t, whatsapp, r.Lane("whatsapp"), "unchanged: same lane, breaker and provider client")
	require.NotSame(t, email, r.Lane("email"), "changed: a new lane")
	wa := tb.channel(t, "whatsapp")
	require.Equal(t, "open", wa["breaker"], "the breaker stays open across the reload")
	require.Equal(t, "down", wa["sim_mode"])
	em := tb.channel(t, "email")
	require.Equal(t, "disabled", em["state"], "an ops override survives a reload, even of a changed channel")
	require.Equal(t, "drill", em["disabled_reason"])
}

func TestBadReloadKeepsOldConfig(t *testing.T) {
	t.Parallel()
	tb := setup(t, baseConfig, false)

	// An unknown key: refused with file:line, nothing changes.
	tb.write(t, edit(t, baseConfig, "  - name: default\n", "  - name: default\n    retires: 3\n",
		"route: [whatsapp, sms, email]", "route: [sms]"))
	status, out := tb.reload(t)
	require.Equal(t, http.StatusUnprocessableEntity, status, "%v", out)
	e := out["error"].(map[string]any)
	require.Equal(t, "invalid_config", e["code"])
	require.Contains(t, e["message"], tb.path+`:18: policies[1]: unknown key "retires"`)
	require.Equal(t, "0", tb.metric(t, "switchboard_config_last_reload_successful"))
	require.Contains(t, tb.logs.String(), "config reload failed")

	id := tb.send(t, otpBody)
	m := tb.waitMessage(t, id, "sent on whatsapp", sentOn("whatsapp"))
	require.Equal(t, []any{"whatsapp", "sms", "email"}, m["route"], "the old config still runs")

	// A change that needs a restart is refused the same way.
	tb.write(t, edit(t, baseConfig, "dispatch: {poll: 20ms}", "dispatch: {poll: 20ms, workers: 3}"))
	status, out = tb.reload(t)
	require.Equal(t, http.StatusUnprocessableEntity, status, "%v", out)
	require.Contains(t, out["error"].(map[string]any)["message"], tb.path+":3: dispatch.workers: changed from 64 to 3: a running gateway cannot apply this")

	// A bad channel option fails at build time, before anything changes.
	tb.write(t, edit(t, baseConfig, "sms:      {type: sim, kind: sms, latency: 0s,", "sms:      {type: sim, kind: sms, latency: 0s, mood: up,"))
	status, out = tb.reload(t)
	require.Equal(t, http.StatusUnprocessableEntity, status, "%v", out)
	require.Contains(t, out["error"].(map[string]any)["message"], "channels.sms")
	require.Contains(t, out["error"].(map[string]any)["message"], `"mood"`)

	// A good one puts the metric back.
	tb.write(t, edit(t, baseConfig, "route: [whatsapp, sms, email]", "route: [sms]"))
	status, out = tb.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Equal(t, "1", tb.metric(t, "switchboard_config_last_reload_successful"))
	id = tb.send(t, otpBody)
	tb.waitMessage(t, id, "sent on sms", sentOn("sms"))
}

func TestReloadNeedsAdmin(t *testing.T) {
	t.Parallel()
	tb := setup(t, baseConfig, false)
	for key, want := range map[string]int{"": http.StatusUnauthorized, readKey: http.StatusForbidden, sendKey: http.StatusForbidden} {
		status, out := tb.do(t, http.MethodPost, "/-/reload", key, "")
		require.Equal(t, want, status, "key %q: %v", key, out)
	}

	// API keys change with a reload: a removed key stops working at once.
	tb.write(t, edit(t, baseConfig, "    - {name: support, key: "+readKey+", role: read}\n", ""))
	status, _ := tb.reload(t)
	require.Equal(t, http.StatusOK, status)
	status, _ = tb.do(t, http.MethodGet, "/v1/channels", readKey, "")
	require.Equal(t, http.StatusUnauthorized, status)
}

// A message waiting in backoff on a channel that a reload removes: its
// stored route still names the channel, so its next attempt skips it
// ("unknown_channel") and the next channel delivers it.
func TestChannelRemovedWhileMessageWaits(t *testing.T) {
	t.Parallel()
	yml := edit(t, baseConfig,
		"whatsapp: {type: sim, kind: whatsapp,", "whatsapp: {type: sim, kind: whatsapp, mode: down,",
		"retry: {attempts: 1}", "retry: {attempts: 3, backoff: 2s, max_backoff: 2s}")
	tb := setup(t, yml, false)
	id := tb.send(t, otpBody)
	tb.waitMessage(t, id, "in backoff after a failed try on whatsapp", func(m map[string]any) bool {
		as, _ := m["attempts"].([]any)
		return len(as) == 1 && as[0].(map[string]any)["status"] == "failed"
	})

	tb.write(t, edit(t, baseConfig,
		"  whatsapp: {type: sim, kind: whatsapp, latency: 0s, receipt_delay: 5ms, retry: {attempts: 1}, breaker: {failures: 2, open_for: 1h}, probe: {interval: 1h}}\n", "",
		"route: [whatsapp, sms, email]", "route: [sms, email]",
		"route: [whatsapp, email]", "route: [email]"))
	status, out := tb.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Contains(t, out["summary"], "- channel whatsapp")

	m := tb.waitMessage(t, id, "sent on sms", sentOn("sms"))
	as := m["attempts"].([]any)
	require.Len(t, as, 3, "%v", as)
	skipped := as[1].(map[string]any)
	require.Equal(t, "whatsapp", skipped["channel"])
	require.Equal(t, "skipped", skipped["status"])
	require.Equal(t, "unknown_channel", skipped["failover_reason"])
	require.Equal(t, "the channel is no longer configured", skipped["error"])
	require.Equal(t, "sms", as[2].(map[string]any)["channel"])
}

func TestWatcherReloadsOnEdit(t *testing.T) {
	t.Parallel()
	tb := setup(t, baseConfig, true)
	deadline := time.Now().Add(waitFor)
	for !strings.Contains(tb.logs.String(), "watching the config file") {
		if time.Now().After(deadline) {
			t.Fatalf("the watcher did not start within %s", waitFor)
		}
		time.Sleep(pollEvery)
	}
	tb.write(t, edit(t, baseConfig, "channels:\n", "channels:\n  telegram: {type: sim, kind: telegram, probe: {interval: 1h}}\n"))
	deadline = time.Now().Add(waitFor)
	for tb.g.Dispatcher.Router().Lane("telegram") == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the watcher did not reload within %s", waitFor)
		}
		time.Sleep(pollEvery)
	}
	require.NotNil(t, tb.channel(t, "telegram"))
	require.Contains(t, tb.logs.String(), `source="file change"`)
}
