package gateway_test

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/callbacks"
	"github.com/switchboard-gw/switchboard/client"
	"github.com/switchboard-gw/switchboard/store"
)

// hungReceiver is a callback endpoint on 127.0.0.1 that accepts
// connections and never answers. It counts the connections open now and at
// most; the test's cleanup closes them, which fails the POSTs hanging on
// them (registered after the gateway, it is closed before the gateway stops).
type hungReceiver struct {
	t   *testing.T
	ln  net.Listener
	url string

	mu       sync.Mutex
	conns    map[net.Conn]bool
	accepted int
	maxOpen  int
}

func newHungReceiver(t *testing.T) *hungReceiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h := &hungReceiver{t: t, ln: ln, url: "http://" + ln.Addr().String() + "/hooks", conns: map[net.Conn]bool{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns[c] = true
			h.accepted++
			h.maxOpen = max(h.maxOpen, len(h.conns))
			h.mu.Unlock()
			go func() {
				// Read what comes, answer nothing; the connection counts as
				// open until the sender gives up on it.
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						break
					}
				}
				h.mu.Lock()
				delete(h.conns, c)
				h.mu.Unlock()
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		h.mu.Lock()
		defer h.mu.Unlock()
		for c := range h.conns {
			c.Close()
		}
	})
	return h
}

func (h *hungReceiver) counts() (open, maxOpen, accepted int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns), h.maxOpen, h.accepted
}

// waitOpen polls until n connections are open.
func (h *hungReceiver) waitOpen(n int) {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		open, _, _ := h.counts()
		if open >= n {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("hung receiver: %d connections open within %s, want %d", open, waitFor, n)
		}
		time.Sleep(pollEvery)
	}
}

// batchWithCallbacks is a batch of n OTP sends whose callbacks go to url.
func batchWithCallbacks(n int, url string) string {
	items := make([]string, n)
	for i := range items {
		items[i] = withCallbackURL(otpBody, url)
	}
	return `{"messages":[` + strings.Join(items, ",") + `]}`
}

// TestCallbackHungReceiverDoesNotHoldOthers: 200 messages whose callbacks
// go to a receiver that accepts and never answers take callbacks.per_host
// (2) workers and no more, so another app's callbacks are all delivered
// while those two POSTs still hang. (How long the other app waits is in
// BenchmarkCallbackIsolation.)
func TestCallbackHungReceiverDoesNotHoldOthers(t *testing.T) {
	t.Parallel()
	// A try at the hung receiver lasts callbacks.timeout: an hour, so its
	// POSTs are still hanging when the test ends, however slow the machine.
	tb := setupCallbacks(t, edit(t, baseConfig, "callbacks: {allow_hosts: [127.0.0.1/32]}", "callbacks: {allow_hosts: [127.0.0.1/32], timeout: 1h}"))
	hung := newHungReceiver(t)
	honest := newHook(t, nil)

	status, out := tb.do(t, http.MethodPost, "/v1/messages/batch", sendKey, batchWithCallbacks(200, hung.url))
	require.Equal(t, http.StatusOK, status, "%v", out)
	results := out["results"].([]any)
	require.Len(t, results, 200)
	hungID := results[0].(map[string]any)["id"].(string)
	hung.waitOpen(2)

	secret := secretOf(t, tb.g, "shop")
	var ids []string
	for range 5 {
		ids = append(ids, tb.send(t, withCallbackURL(otpBody, honest.srv.URL+"/hooks")))
	}
	for _, id := range ids {
		require.Equal(t, []store.Status{store.StatusSent, store.StatusDelivered}, verified(t, secret, honest.waitCalls(id, 2)))
	}

	open, maxOpen, accepted := hung.counts()
	require.Equal(t, 2, open, "the hung receiver still holds its two POSTs")
	require.Equal(t, 2, maxOpen, "never more than callbacks.per_host at once")
	require.Equal(t, 2, accepted, "no POST to it finished, so no other started")
	require.Positive(t, tb.sample(t, `switchboard_callbacks_deferred_total{reason="host_busy"}`),
		"the hung receiver's other callbacks went back to the store to wait")

	// The hung receiver's callbacks are pending, untried, not lost.
	status, m := tb.do(t, http.MethodGet, "/v1/messages/"+hungID, readKey, "")
	require.Equal(t, http.StatusOK, status)
	cbs := m["callbacks"].([]any)
	require.NotEmpty(t, cbs)
	require.Equal(t, "pending", cbs[0].(map[string]any)["delivery"])
}

// TestCallbackBreakerOpensAndRecovers: a receiver that keeps failing opens
// its destination's breaker; its callbacks then wait in the store without
// taking a worker, and are all delivered once it answers again.
func TestCallbackBreakerOpensAndRecovers(t *testing.T) {
	t.Parallel()
	tb := setupCallbacks(t, baseConfig, func(s *callbacks.Sender) { s.BreakerOpen = 100 * time.Millisecond })
	var up atomic.Bool
	h := newHook(t, func(store.CallbackPayload, int) int {
		if up.Load() {
			return http.StatusNoContent
		}
		return http.StatusServiceUnavailable
	})
	var ids []string
	for range 3 {
		ids = append(ids, tb.send(t, withCallbackURL(otpBody, h.srv.URL)))
	}
	tb.waitSample(t, "switchboard_callbacks_breaker_opened_total", "the breaker opened", func(v float64) bool { return v >= 1 })
	tb.waitSample(t, `switchboard_callbacks_deferred_total{reason="breaker_open"}`, "callbacks deferred while it is open", func(v float64) bool { return v >= 1 })
	require.Equal(t, 1.0, tb.sample(t, "switchboard_callbacks_hosts_open"))
	tb.waitLog(t, "callback destination failing", "the breaker's opening logged")

	up.Store(true)
	for _, id := range ids {
		for _, v := range tb.callbackViews(t, id, 2) {
			require.Equal(t, "delivered", v["delivery"])
		}
		require.Equal(t, []store.Status{store.StatusSent, store.StatusDelivered}, delivered(h.calls(id)), "in order, once each delivered")
	}
	tb.waitSample(t, "switchboard_callbacks_hosts_open", "the breaker closed", func(v float64) bool { return v == 0 })
	tb.waitLog(t, "callback destination recovered", "the recovery logged")
}

// delivered returns the statuses of the calls that were acknowledged.
func delivered(calls []hookCall) []store.Status {
	var out []store.Status
	for _, c := range calls {
		if c.answered < 300 {
			out = append(out, c.payload.Status)
		}
	}
	return out
}

// waitSample polls /metrics until the series' value satisfies ok.
func (tb *testBundle) waitSample(t *testing.T, series, what string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		v := tb.sample(t, series)
		if ok(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s is %v after %s", what, series, v, waitFor)
		}
		time.Sleep(pollEvery)
	}
}

// TestStatusCallbackSecretRotation: callback_secrets: [new, old] signs each
// callback with both, so a receiver verifies with either during the
// rotation; a reload starts and ends it, and says what changed.
func TestStatusCallbackSecretRotation(t *testing.T) {
	t.Parallel()
	const (
		oldSecret = "cb-old-secret-0123456789"
		newSecret = "cb-new-secret-0123456789"
	)
	withSecrets := func(s string) string { return strings.Replace(baseConfig, "role: send}", "role: send, "+s+"}", 1) }
	tb := setupCallbacks(t, withSecrets("callback_secret: "+oldSecret))
	h := newHook(t, nil)
	url := h.srv.URL + "/hooks"

	calls := h.waitCalls(tb.send(t, withCallbackURL(otpBody, url)), 2)
	verified(t, oldSecret, calls)
	require.ErrorIs(t, client.VerifySignature(newSecret, calls[0].signature, calls[0].body, 5*time.Minute, time.Now()), client.ErrBadSignature)

	steps := []struct {
		name    string
		config  string
		summary string
		good    []string
		bad     []string
	}{
		{"rotation starts", "callback_secrets: [" + newSecret + ", " + oldSecret + "]", "~ API key shop: callback_secrets changed", []string{newSecret, oldSecret}, nil},
		{"rotation ends", "callback_secret: " + newSecret, "~ API key shop: callback_secret changed", []string{newSecret}, []string{oldSecret}},
	}
	for _, st := range steps {
		tb.write(t, withSecrets(st.config))
		status, out := tb.reload(t)
		require.Equal(t, http.StatusOK, status, "%s: %v", st.name, out)
		require.Equal(t, st.summary, out["summary"], st.name)
		for _, s := range []string{oldSecret, newSecret} {
			require.NotContains(t, tb.logs.String(), s, "a secret in the log")
		}

		calls := h.waitCalls(tb.send(t, withCallbackURL(otpBody, url)), 2)
		for _, c := range calls {
			require.Equal(t, len(st.good), strings.Count(c.signature, "v1="), "%s: one v1= per secret: %s", st.name, c.signature)
		}
		for _, s := range st.good {
			require.Equal(t, []store.Status{store.StatusSent, store.StatusDelivered}, verified(t, s, calls), st.name)
		}
		for _, s := range st.bad {
			require.ErrorIs(t, client.VerifySignature(s, calls[0].signature, calls[0].body, 5*time.Minute, time.Now()), client.ErrBadSignature, st.name)
		}
	}
}

// TestStatusCallbackOfRemovedKeyGivenUp: a reload removes the API key that
// sent a message whose callbacks are still pending. They are given up,
// last_error saying why, and none goes out unsigned.
func TestStatusCallbackOfRemovedKeyGivenUp(t *testing.T) {
	t.Parallel()
	const appKey = "test-app2-key-0123456789"
	withApp := edit(t, baseConfig, "    - {name: support,", "    - {name: app2, key: "+appKey+", role: send}\n    - {name: support,")
	tb := setupCallbacks(t, withApp)
	h := newHook(t, func(store.CallbackPayload, int) int { return http.StatusServiceUnavailable })
	secret := secretOf(t, tb.g, "app2")

	status, out := tb.do(t, http.MethodPost, "/v1/messages", appKey, withCallbackURL(otpBody, h.srv.URL))
	require.Equal(t, http.StatusAccepted, status, "%v", out)
	id := out["id"].(string)
	h.waitCalls(id, 1)

	tb.write(t, baseConfig)
	status, out = tb.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Equal(t, "- API key app2", out["summary"])

	for _, v := range tb.callbackViews(t, id, 2) {
		require.Equal(t, "gave_up", v["delivery"], "%v", v)
		require.Equal(t, `API key "app2" that sent the message is no longer configured: its callbacks cannot be signed and are not sent unsigned`, v["last_error"])
		require.NotEmpty(t, v["finished_at"])
	}
	calls := h.calls(id)
	require.NotEmpty(t, calls)
	verified(t, secret, calls) // every POST it got was signed by the key's secret
}
