package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/callbacks"
	"github.com/switchboard-gw/switchboard/client"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
	"github.com/switchboard-gw/switchboard/store"
)

// setupCallbacks is setup with the callback sender's timings shortened
// before Run: retries 10ms apart (doubling), polled every 10ms; tune
// changes more of them.
func setupCallbacks(t *testing.T, yml string, tune ...func(*callbacks.Sender)) *testBundle {
	t.Helper()
	dir := t.TempDir()
	tb := &testBundle{path: filepath.Join(dir, "switchboard.yaml"), dsn: filepath.Join(dir, "sb.db"), http: &http.Client{Timeout: 10 * time.Second}, logs: &lockedBuffer{}}
	tb.write(t, yml)
	cfg, err := config.Load(tb.path)
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(tb.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: log, ConfigFile: tb.path})
	require.NoError(t, err)
	require.NotNil(t, g.Callbacks, "the SQLite store has a callback outbox")
	g.Callbacks.FirstRetry = 10 * time.Millisecond
	g.Callbacks.Poll = 10 * time.Millisecond
	for _, f := range tune {
		f(g.Callbacks)
	}
	tb.g = g
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		if t.Failed() {
			t.Logf("gateway log:\n%s", tb.logs)
		}
	})
	tb.base = "http://" + ln.Addr().String()
	return tb
}

// hook is a business app's callback endpoint: it records every POST and
// answers what answer says for the n-th POST (from 1) of a message status.
type hook struct {
	t      *testing.T
	srv    *httptest.Server
	answer func(p store.CallbackPayload, n int) int

	mu   sync.Mutex
	got  []hookCall
	seen map[string]int // "id status" -> POSTs
}

type hookCall struct {
	payload   store.CallbackPayload
	body      []byte
	signature string
	answered  int
}

func newHook(t *testing.T, answer func(p store.CallbackPayload, n int) int) *hook {
	h := &hook{t: t, answer: answer, seen: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var p store.CallbackPayload
		if err := json.Unmarshal(body, &p); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		key := p.ID + " " + string(p.Status)
		h.seen[key]++
		code := http.StatusOK
		if h.answer != nil {
			code = h.answer(p, h.seen[key])
		}
		h.got = append(h.got, hookCall{payload: p, body: body, signature: r.Header.Get(client.SignatureHeader), answered: code})
		h.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// calls returns the POSTs received for message id so far, in arrival order.
func (h *hook) calls(id string) []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hookCall
	for _, c := range h.got {
		if c.payload.ID == id {
			out = append(out, c)
		}
	}
	return out
}

// waitCalls polls until message id got n POSTs.
func (h *hook) waitCalls(id string, n int) []hookCall {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		got := h.calls(id)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("message %s: %d callback POSTs within %s, want %d: %+v", id, len(got), waitFor, n, got)
		}
		time.Sleep(pollEvery)
	}
}

func secretOf(t *testing.T, g *gateway.Gateway, name string) string {
	t.Helper()
	for _, k := range g.Config().Auth.Keys {
		if k.Name == name {
			return k.CallbackSigningSecret()
		}
	}
	t.Fatalf("no API key %q", name)
	return ""
}

// verified checks every call's signature with secret and returns the
// statuses in arrival order.
func verified(t *testing.T, secret string, calls []hookCall) []store.Status {
	t.Helper()
	var out []store.Status
	for _, c := range calls {
		require.NoError(t, client.VerifySignature(secret, c.signature, c.body, 5*time.Minute, time.Now()),
			"callback %s %s: signature %q", c.payload.ID, c.payload.Status, c.signature)
		out = append(out, c.payload.Status)
	}
	return out
}

func withCallbackURL(body, url string) string {
	return strings.TrimSuffix(body, "}") + `,"callback_url":"` + url + `"}`
}

// callbackViews waits until the message's callbacks in the API are n and
// none is pending, and returns them.
func (tb *testBundle) callbackViews(t *testing.T, id string, n int) []map[string]any {
	t.Helper()
	m := tb.waitMessage(t, id, "with its callbacks settled", func(m map[string]any) bool {
		cbs, _ := m["callbacks"].([]any)
		if len(cbs) != n {
			return false
		}
		for _, cb := range cbs {
			if cb.(map[string]any)["delivery"] == "pending" {
				return false
			}
		}
		return true
	})
	var out []map[string]any
	for _, cb := range m["callbacks"].([]any) {
		out = append(out, cb.(map[string]any))
	}
	return out
}

func TestStatusCallbacksSignedAndInOrder(t *testing.T) {
	t.Parallel()
	tb := setupCallbacks(t, baseConfig)
	h := newHook(t, nil)
	secret := secretOf(t, tb.g, "shop")

	// A simple OTP: sent, then delivered, on the route's first channel.
	id := tb.send(t, withCallbackURL(otpBody, h.srv.URL+"/hooks/sb"))
	calls := h.waitCalls(id, 2)
	require.Equal(t, []store.Status{store.StatusSent, store.StatusDelivered}, verified(t, secret, calls))
	for _, c := range calls {
		require.Equal(t, "whatsapp", c.payload.Channel)
		require.Equal(t, 1, c.payload.Attempt)
		require.False(t, c.payload.IsFallback)
		require.False(t, c.payload.Duplicate)
		require.False(t, c.payload.Timestamp.IsZero())
	}
	require.Error(t, client.VerifySignature(secretOf(t, tb.g, "support"), calls[0].signature, calls[0].body, 5*time.Minute, time.Now()),
		"signed with the sending key's secret, not another's")
	views := tb.callbackViews(t, id, 2)
	for i, want := range []string{"sent", "delivered"} {
		require.Equal(t, want, views[i]["status"])
		require.Equal(t, "delivered", views[i]["delivery"])
		require.EqualValues(t, 1, views[i]["attempts"])
		require.NotEmpty(t, views[i]["delivered_at"])
		require.NotEmpty(t, views[i]["finished_at"])
	}

	// WhatsApp down: the send fails over to sms in the same step.
	status, out := tb.do(t, http.MethodPost, "/v1/channels/whatsapp/sim", adminKey, `{"mode":"down"}`)
	require.Equal(t, http.StatusOK, status, "%v", out)
	id = tb.send(t, withCallbackURL(otpBody, h.srv.URL+"/hooks/sb"))
	calls = h.waitCalls(id, 2)
	require.Equal(t, []store.Status{store.StatusSent, store.StatusDelivered}, verified(t, secret, calls))
	for _, c := range calls {
		require.Equal(t, "sms", c.payload.Channel)
		require.Equal(t, 2, c.payload.Attempt, "attempt 1 failed on whatsapp")
		require.True(t, c.payload.IsFallback)
	}
	tb.callbackViews(t, id, 2)
	require.Contains(t, tb.metricLines(t, "switchboard_callbacks_total"), `switchboard_callbacks_total{result="delivered"} 4`)
}

func TestStatusCallbackRetriedUntilDelivered(t *testing.T) {
	t.Parallel()
	tb := setupCallbacks(t, baseConfig)
	// Every status is refused twice, then acknowledged.
	h := newHook(t, func(_ store.CallbackPayload, n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	id := tb.send(t, withCallbackURL(otpBody, h.srv.URL))
	calls := h.waitCalls(id, 6)
	got := verified(t, secretOf(t, tb.g, "shop"), calls)
	// In order: delivered is not sent before sent was acknowledged.
	require.Equal(t, []store.Status{"sent", "sent", "sent", "delivered", "delivered", "delivered"}, got)
	require.Equal(t, calls[0].body, calls[2].body, "a retry sends the same body")
	views := tb.callbackViews(t, id, 2)
	for _, v := range views {
		require.Equal(t, "delivered", v["delivery"])
		require.EqualValues(t, 3, v["attempts"])
		require.Equal(t, "callback endpoint answered HTTP 500", v["last_error"])
	}
	require.Contains(t, tb.metricLines(t, "switchboard_callbacks_total"), `switchboard_callbacks_total{result="failed"} 4`)
}

func TestStatusCallbackGoneGivesUp(t *testing.T) {
	t.Parallel()
	tb := setupCallbacks(t, baseConfig)
	h := newHook(t, func(store.CallbackPayload, int) int { return http.StatusGone })
	id := tb.send(t, withCallbackURL(otpBody, h.srv.URL))
	views := tb.callbackViews(t, id, 2)
	for _, v := range views {
		require.Equal(t, "gave_up", v["delivery"])
		require.EqualValues(t, 1, v["attempts"], "410 is not retried")
		require.Contains(t, v["last_error"], "410 Gone")
		require.NotEmpty(t, v["finished_at"])
		require.Nil(t, v["delivered_at"])
	}
	require.Len(t, h.calls(id), 2)
}

// A reload that changes a key's callback secret signs later callbacks with
// the new one.
func TestStatusCallbackSecretFollowsReload(t *testing.T) {
	t.Parallel()
	tb := setupCallbacks(t, baseConfig)
	h := newHook(t, nil)
	old := secretOf(t, tb.g, "shop")
	tb.write(t, strings.Replace(baseConfig, "role: send}", "role: send, callback_secret: rotated-secret-0123456789}", 1))
	status, out := tb.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Equal(t, "rotated-secret-0123456789", secretOf(t, tb.g, "shop"))

	id := tb.send(t, withCallbackURL(otpBody, h.srv.URL))
	calls := h.waitCalls(id, 2)
	verified(t, "rotated-secret-0123456789", calls)
	require.ErrorIs(t, client.VerifySignature(old, calls[0].signature, calls[0].body, 5*time.Minute, time.Now()), client.ErrBadSignature)
}

// TestStatusCallbackAddressPolicy: by default a callback_url on this
// machine is refused: at submit when its host is an address, when the
// sender connects when it is a name (localhost). That refusal is final:
// one try, given up, nothing reaches the receiver. A reload that allows
// the address applies to the next message.
func TestStatusCallbackAddressPolicy(t *testing.T) {
	t.Parallel()
	allow := "callbacks: {allow_hosts: [127.0.0.1/32]}\n"
	tb := setupCallbacks(t, edit(t, baseConfig, allow, ""))
	h := newHook(t, nil)
	byName := strings.Replace(h.srv.URL, "127.0.0.1", "localhost", 1) + "/hooks"
	require.NotEqual(t, h.srv.URL+"/hooks", byName)

	status, out := tb.do(t, http.MethodPost, "/v1/messages", sendKey, withCallbackURL(otpBody, h.srv.URL+"/hooks"))
	require.Equal(t, http.StatusUnprocessableEntity, status, "%v", out)
	e := out["error"].(map[string]any)
	require.Equal(t, "callback_url", e["field"])
	require.Equal(t, "callback_url host 127.0.0.1 is a loopback address; set callbacks.allow_private_networks or callbacks.allow_hosts in the gateway's config to allow it", e["message"])

	id := tb.send(t, withCallbackURL(otpBody, byName))
	for _, v := range tb.callbackViews(t, id, 2) {
		require.Equal(t, "gave_up", v["delivery"])
		require.EqualValues(t, 1, v["attempts"], "a refused address is not retried")
		require.Contains(t, v["last_error"], "callback_url host localhost resolves to ")
		require.Contains(t, v["last_error"], "a loopback address; set callbacks.allow_private_networks or callbacks.allow_hosts in the gateway's config to allow it")
		require.NotEmpty(t, v["finished_at"])
	}
	require.Empty(t, h.calls(id), "the receiver got nothing")
	require.Contains(t, tb.metricLines(t, "switchboard_callbacks_total"), `switchboard_callbacks_total{result="gave_up"} 2`)

	// allow_hosts applies on reload, to the API and to the sender.
	tb.write(t, baseConfig)
	status, out = tb.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Contains(t, out["summary"], "callbacks.allow_hosts: [] → [127.0.0.1/32]")
	secret := secretOf(t, tb.g, "shop")
	for _, url := range []string{h.srv.URL + "/hooks", byName} {
		id := tb.send(t, withCallbackURL(otpBody, url))
		calls := h.waitCalls(id, 2)
		require.Equal(t, []store.Status{store.StatusSent, store.StatusDelivered}, verified(t, secret, calls), url)
		for _, v := range tb.callbackViews(t, id, 2) {
			require.Equal(t, "delivered", v["delivery"], url)
		}
	}
}

// metricLines scrapes /metrics for the lines of one metric.
func (tb *testBundle) metricLines(t *testing.T, name string) string {
	t.Helper()
	resp, err := tb.http.Get(tb.base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
