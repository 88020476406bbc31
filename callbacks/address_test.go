package callbacks

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/store"
)

// outbox is a store.CallbackOutbox that records what the sender finished;
// the tests hand callbacks to deliver themselves.
type outbox struct {
	mu       sync.Mutex
	finished []store.CallbackResult
}

var _ store.CallbackOutbox = (*outbox)(nil)

func (o *outbox) ClaimCallbacks(context.Context, string, time.Duration, int, time.Time) ([]store.Callback, error) {
	return nil, nil
}

func (o *outbox) FinishCallback(_ context.Context, r store.CallbackResult) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.finished = append(o.finished, r)
	return nil
}

func (o *outbox) DeferCallbacks(context.Context, string, []int64, time.Time) error { return nil }

func (o *outbox) Callbacks(context.Context, string) ([]store.Callback, error) { return nil, nil }

func (o *outbox) last(t *testing.T) store.CallbackResult {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	require.NotEmpty(t, o.finished, "the try was recorded")
	return o.finished[len(o.finished)-1]
}

type addressBundle struct {
	sender *Sender
	store  *outbox
	hits   *atomic.Int64 // requests the receiver got
	url    string        // the receiver, by its 127.0.0.1 address
	port   string
}

// setupAddress starts a callback receiver on 127.0.0.1 and a sender with
// its default Client (the one that enforces the policy), not running:
// tests call deliver, one try each.
func setupAddress(t *testing.T) *addressBundle {
	t.Helper()
	tb := &addressBundle{store: &outbox{}, hits: new(atomic.Int64)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		tb.hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	tb.url = srv.URL
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	tb.port = u.Port()
	tb.sender = &Sender{Store: tb.store, Secrets: func(string) []string { return []string{"s3cret"} }, Owner: "test", Timeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)}
	tb.sender.defaults()
	t.Cleanup(tb.sender.Client.CloseIdleConnections)
	return tb
}

func (tb *addressBundle) deliver(t *testing.T, url string) store.CallbackResult {
	t.Helper()
	tb.sender.deliver(store.Callback{ID: 1, MessageID: "m1", URL: url, Scope: "shop", Payload: []byte(`{"id":"m1","status":"sent"}`), CreatedAt: time.Now()})
	return tb.store.last(t)
}

func policy(t *testing.T, c config.Callbacks) *AddressPolicy {
	t.Helper()
	p, err := NewAddressPolicy(c)
	require.NoError(t, err)
	return p
}

// TestSenderRefusesPrivateAddresses: the sender's own Client checks the
// address it connects to. A refused callback reaches nobody and is given
// up on its first try, with an error that says what to configure.
func TestSenderRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		policy  config.Callbacks
		host    string // of the callback_url, with the receiver's port
		refused string // "": delivered; else the start of the error
	}{
		{name: "loopback address by default", host: "127.0.0.1",
			refused: "callback_url host 127.0.0.1 is a loopback address; set callbacks.allow_private_networks or callbacks.allow_hosts in the gateway's config to allow it"},
		// A name is resolved when the connection is opened; whatever
		// it resolves to (127.0.0.1 or ::1) is refused.
		{name: "a name that resolves to loopback, by default", host: "localhost", refused: "callback_url host localhost resolves to "},
		{name: "allow_private_networks", policy: config.Callbacks{AllowPrivateNetworks: true}, host: "127.0.0.1"},
		{name: "allow_private_networks, by name", policy: config.Callbacks{AllowPrivateNetworks: true}, host: "localhost"},
		{name: "allow_hosts CIDR", policy: config.Callbacks{AllowHosts: []string{"127.0.0.0/8"}}, host: "127.0.0.1"},
		{name: "allow_hosts name", policy: config.Callbacks{AllowHosts: []string{"localhost"}}, host: "localhost"},
		{name: "allow_hosts names another host", policy: config.Callbacks{AllowHosts: []string{"hooks.internal"}}, host: "127.0.0.1",
			refused: "callback_url host 127.0.0.1 is a loopback address"},
		{name: "allow_hosts holds another range", policy: config.Callbacks{AllowHosts: []string{"10.0.0.0/8"}}, host: "localhost",
			refused: "callback_url host localhost resolves to "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := setupAddress(t)
			tb.sender.SetPolicy(policy(t, tt.policy))
			res := tb.deliver(t, "http://"+tt.host+":"+tb.port+"/hooks")
			if tt.refused == "" {
				require.Equal(t, store.CallbackDelivered, res.Status, res.Error)
				require.EqualValues(t, 1, tb.hits.Load())
				return
			}
			require.Equal(t, store.CallbackGaveUp, res.Status, "refused by policy: given up at once, never retried")
			require.True(t, res.NextAt.IsZero(), "no retry is scheduled")
			require.True(t, strings.HasPrefix(res.Error, tt.refused), "error %q\nwant it to start %q", res.Error, tt.refused)
			require.Contains(t, res.Error, "loopback address")
			require.Zero(t, tb.hits.Load(), "the receiver got no request")
		})
	}
}

// TestSenderPolicyFollowsSetPolicy: a reload's policy applies to the next
// connection, and a connection pooled under a looser policy is not reused
// under a stricter one.
func TestSenderPolicyFollowsSetPolicy(t *testing.T) {
	t.Parallel()
	tb := setupAddress(t)
	target := tb.url + "/hooks"

	res := tb.deliver(t, target)
	require.Equal(t, store.CallbackGaveUp, res.Status, "default: public addresses only")
	require.Zero(t, tb.hits.Load())

	tb.sender.SetPolicy(policy(t, config.Callbacks{AllowPrivateNetworks: true}))
	res = tb.deliver(t, target)
	require.Equal(t, store.CallbackDelivered, res.Status, res.Error)
	require.EqualValues(t, 1, tb.hits.Load())

	// The keep-alive connection of that POST would still reach the
	// receiver without a new dial: SetPolicy closes it.
	tb.sender.SetPolicy(nil)
	res = tb.deliver(t, target)
	require.Equal(t, store.CallbackGaveUp, res.Status)
	require.Contains(t, res.Error, "is a loopback address")
	require.EqualValues(t, 1, tb.hits.Load(), "no request on the pooled connection")
}

// TestSenderRetriesUnreachableAllowedAddress: only the policy's refusal
// is permanent; an allowed address that refuses the connection is retried
// as before.
func TestSenderRetriesUnreachableAllowedAddress(t *testing.T) {
	t.Parallel()
	tb := setupAddress(t)
	tb.sender.SetPolicy(policy(t, config.Callbacks{AllowPrivateNetworks: true}))
	res := tb.deliver(t, "http://127.0.0.1:1/hooks") // nothing listens on port 1
	require.Equal(t, store.CallbackPending, res.Status, res.Error)
	require.False(t, res.NextAt.IsZero(), "a retry is scheduled")
	require.NotContains(t, res.Error, "callback_url host")
}
