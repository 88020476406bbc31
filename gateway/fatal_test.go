package gateway_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/api"
	"github.com/switchboard-gw/switchboard/gateway"
	"github.com/switchboard-gw/switchboard/pii"
	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/sqlite"
)

// syncHook is a WAL sync the test controls: armed, the next sync reports
// that it started and waits for the test's verdict (nil: sync for real).
type syncHook struct {
	armed   atomic.Bool
	started chan struct{}
	verdict chan error
}

func newSyncHook() *syncHook {
	return &syncHook{started: make(chan struct{}, 1), verdict: make(chan error, 1)}
}

func (h *syncHook) sync(f *os.File) error {
	if h.armed.Swap(false) {
		h.started <- struct{}{}
		if err := <-h.verdict; err != nil {
			return err
		}
	}
	return f.Sync()
}

// runWithStore builds tb's gateway on st (a store the test opened on tb's
// file) and runs it; the returned channel yields Run's error.
func (tb *testBundle) runWithStore(t *testing.T, st store.Store) (<-chan error, context.CancelFunc) {
	t.Helper()
	log := slog.New(pii.NewHandler(slog.NewTextHandler(tb.logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	// A long drain after a storage failure: the test ends it (cancel)
	// once it has seen the refusals.
	g, err := gateway.New(context.Background(), tb.load(t), gateway.Options{Logger: log, Store: st, FailDrain: time.Hour})
	require.NoError(t, err)
	tb.g = g
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tb.base = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if t.Failed() {
			t.Logf("gateway log:\n%s", tb.logs)
		}
	})
	return done, cancel
}

// partialRequest opens a connection and sends all of req but its last
// byte: the server holds it as a request in flight, which a shutdown waits
// for. finish sends the last byte and reads the response.
func partialRequest(t *testing.T, base, req string) (finish func() (int, string)) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = io.WriteString(conn, req[:len(req)-1])
	require.NoError(t, err)
	return func() (int, string) {
		_, err := io.WriteString(conn, req[len(req)-1:])
		require.NoError(t, err)
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(waitFor)))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}

func rawPost(body string) string {
	return fmt.Sprintf("POST /v1/messages HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		sendKey, len(body), body)
}

// TestStorageFailureIsFatal: a failed fdatasync of the SQLite WAL stops
// the gateway. The send whose batch failed gets 503, and so do the
// requests still in flight (a send: 503 unavailable; /readyz: 503); the
// failure is logged once at ERROR; Run returns the store.ErrFatal after
// answering them; and every message answered 202 is in the file after a
// restart.
func TestStorageFailureIsFatal(t *testing.T) {
	t.Parallel()
	tb := newBundle(t, baseConfig)
	hook := newSyncHook()
	st, err := sqlite.Open(t.Context(), tb.dsn, sqlite.WithWALSync(hook.sync))
	require.NoError(t, err)
	done, stop := tb.runWithStore(t, st)

	var accepted []string
	for range 5 {
		accepted = append(accepted, tb.send(t, otpBody))
	}

	// A request in flight when the disk fails, answered after it.
	sendLater := partialRequest(t, tb.base, rawPost(otpBody))

	hook.armed.Store(true)
	failing := make(chan int, 1)
	go func() {
		status, _ := tb.do(t, http.MethodPost, "/v1/messages", sendKey, otpBody)
		failing <- status
	}()
	<-hook.started // some batch (this send's, or a claim before it) is syncing
	hook.verdict <- errors.New("injected: fdatasync: input/output error")
	<-st.Failed()

	// The send racing the failure: either in the batch that failed, or
	// refused after; never a 202 that could be lost.
	require.Equal(t, http.StatusServiceUnavailable, <-failing)
	// Draining: no more 202s, and not ready.
	status, out := tb.do(t, http.MethodPost, "/v1/messages", sendKey, otpBody)
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, "unavailable", out["error"].(map[string]any)["code"])
	status, out = tb.do(t, http.MethodGet, "/readyz", "", "")
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, "not_ready", out["error"].(map[string]any)["code"])

	// The shutdown waits for the request still in flight, which gets 503.
	stop()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) before the request in flight was answered", err)
	case <-time.After(50 * time.Millisecond): // not a timing assert: Run must not return at all before
	}
	status, body := sendLater()
	require.Equal(t, http.StatusServiceUnavailable, status, body)
	require.Contains(t, body, `"code":"unavailable"`)

	select {
	case err = <-done:
	case <-time.After(waitFor):
		t.Fatal("the gateway did not stop after its store failed")
	}
	require.ErrorIs(t, err, store.ErrFatal)
	require.ErrorContains(t, err, "input/output error")
	logs := tb.logs.String()
	require.Equal(t, 1, strings.Count(logs, "level=ERROR"), "one ERROR line:\n%s", logs)
	require.Contains(t, logs, "storage failed")

	// Every 202 is on disk: the next start finds each message.
	st, err = sqlite.Open(t.Context(), tb.dsn)
	require.NoError(t, err)
	defer st.Close()
	for _, id := range accepted {
		_, err := st.Get(t.Context(), id)
		require.NoError(t, err, "accepted message %s", id)
	}
}

// TestCommittedSendSurvivesClientHangup: a client that hangs up while its
// message's batch waits for the WAL sync does not undo the send. The
// message, committed and handed to this process's dispatcher, is sent at
// once (the lease is an hour: a message left to run out its lease would
// not be delivered within the test), not flagged ambiguous, and a retry
// with the same Idempotency-Key replays the 202.
func TestCommittedSendSurvivesClientHangup(t *testing.T) {
	t.Parallel()
	tb := newBundle(t, edit(t, baseConfig, "dispatch: {poll: 20ms}", "dispatch: {poll: 20ms, lease: 1h}"))

	// The first WAL sync after the message is committed (visible to
	// reads, not yet confirmed on disk) waits for the gate.
	var (
		st      atomic.Pointer[sqlite.Store]
		once    atomic.Bool
		holding = make(chan string, 1)
		gate    = make(chan struct{})
	)
	hook := func(f *os.File) error {
		if s := st.Load(); s != nil && !once.Load() {
			res, err := s.List(context.Background(), store.ListParams{Tag: "hangup", Limit: 1})
			if err == nil && len(res.Messages) == 1 && once.CompareAndSwap(false, true) {
				holding <- res.Messages[0].ID
				<-gate
			}
		}
		return f.Sync()
	}
	s, err := sqlite.Open(t.Context(), tb.dsn, sqlite.WithWALSync(hook))
	require.NoError(t, err)
	st.Store(s)
	tb.runWithStore(t, s)

	const key = "hangup-1"
	body := strings.Replace(otpBody, `"tags":["otp"]`, `"tags":["otp","hangup"]`, 1)
	post := func(ctx context.Context) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, tb.base+"/v1/messages", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+sendKey)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		return tb.http.Do(req)
	}

	ctx, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	posted := make(chan error, 1)
	go func() {
		resp, err := post(ctx)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("answered %d before the sync finished", resp.StatusCode)
		}
		posted <- err
	}()
	var id string
	select {
	case id = <-holding:
	case <-time.After(waitFor):
		t.Fatal("the message was never committed")
	}
	hangUp()
	require.ErrorIs(t, <-posted, context.Canceled, "the client hung up before any answer")
	close(gate) // the sync completes: the message is on disk

	m := tb.waitMessage(t, id, "delivered", func(m map[string]any) bool { return m["status"] == "delivered" })
	for _, a := range m["attempts"].([]any) {
		require.NotEqual(t, true, a.(map[string]any)["ambiguous"], "sent by the hand-off, not reclaimed after a lease: %v", m)
	}

	resp, err := post(context.Background())
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Equal(t, "true", resp.Header.Get("Idempotent-Replay"))
	require.Equal(t, "/v1/messages/"+id, resp.Header.Get("Location"))
}

// slowEnqueue stores each message and then answers only when the caller's
// deadline has passed: a store whose write committed but did not answer in
// time.
type slowEnqueue struct {
	store.Store
	ids chan string
}

func (s *slowEnqueue) Enqueue(ctx context.Context, m *store.Message) (*store.Message, bool, error) {
	stored, replayed, err := s.Store.Enqueue(context.WithoutCancel(ctx), m)
	if err != nil {
		return stored, replayed, err
	}
	s.ids <- stored.ID
	<-ctx.Done()
	return nil, false, ctx.Err()
}

// TestTimedOutEnqueueStillDispatched: when the store does not answer a
// send within its timeout, the client gets 503, and a message that was
// committed anyway, leased to this process for the hand-off, is found and
// dispatched at once (the lease is an hour: it would not be otherwise),
// not left to its lease.
func TestTimedOutEnqueueStillDispatched(t *testing.T) {
	t.Parallel()
	tb := newBundle(t, edit(t, baseConfig, "dispatch: {poll: 20ms}", "dispatch: {poll: 20ms, lease: 1h}"))
	tb.build(t, tb.load(t), false, nil)
	tb.run(t)
	slow := &slowEnqueue{Store: tb.g.Store, ids: make(chan string, 1)}
	srv := api.New(api.Deps{Config: tb.g.Config(), Store: slow, Dispatch: tb.g.Dispatcher, Health: tb.g.Health,
		Logger: slog.New(slog.DiscardHandler), Handoff: true, EnqueueTimeout: 50 * time.Millisecond})
	hs := httptest.NewServer(srv)
	defer hs.Close()

	other := &testBundle{base: hs.URL, http: tb.http}
	status, out := other.do(t, http.MethodPost, "/v1/messages", sendKey, otpBody)
	require.Equal(t, http.StatusServiceUnavailable, status, "%v", out)
	id := <-slow.ids
	m := tb.waitMessage(t, id, "delivered", func(m map[string]any) bool { return m["status"] == "delivered" })
	for _, a := range m["attempts"].([]any) {
		require.NotEqual(t, true, a.(map[string]any)["ambiguous"], "%v", m)
	}
}
