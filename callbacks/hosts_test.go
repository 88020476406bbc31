package callbacks

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/store"
)

func TestHostKey(t *testing.T) {
	t.Parallel()
	tests := []struct{ url, want string }{
		{"https://App.Example.com/hooks?x=1", "https://app.example.com:443"},
		{"https://app.example.com:443/other", "https://app.example.com:443"},
		{"http://app.example.com/hooks", "http://app.example.com:80"},
		{"http://app.example.com:8080/hooks", "http://app.example.com:8080"},
		{"https://user:pw@app.example.com/hooks", "https://app.example.com:443"}, // never the credentials
		{"http://[::1]:9000/h", "http://[::1]:9000"},
		{"::not a url", "::not a url"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, hostKey(tt.url), tt.url)
	}
}

// A destination's breaker stays open BreakerOpen, then twice as long each
// time it opens again before closing, up to 10 minutes; closing resets it.
func TestBreakerOpenBacksOffPerHost(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &Sender{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }, BreakerOpen: 30 * time.Second}
	h := &host{key: "https://app.example.com:443"}
	var got []time.Duration
	for range 7 {
		s.breakerChanged(h, gobreaker.StateHalfOpen, gobreaker.StateOpen)
		got = append(got, h.reopenAt.Sub(now))
	}
	require.Equal(t, []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute}, got)
	s.breakerChanged(h, gobreaker.StateHalfOpen, gobreaker.StateClosed)
	require.True(t, h.reopenAt.IsZero())
	s.breakerChanged(h, gobreaker.StateClosed, gobreaker.StateOpen)
	require.Equal(t, 30*time.Second, h.reopenAt.Sub(now))
}

// A callback whose API key is gone is given up without a POST.
func TestDeliverWithoutKeyGivesUp(t *testing.T) {
	t.Parallel()
	tb := setupAddress(t)
	tb.sender.SetPolicy(policy(t, config.Callbacks{AllowPrivateNetworks: true}))
	tb.sender.Secrets = func(string) []string { return nil }
	res := tb.deliver(t, tb.url+"/hooks")
	require.Equal(t, store.CallbackGaveUp, res.Status)
	require.Equal(t, `API key "shop" that sent the message is no longer configured: its callbacks cannot be signed and are not sent unsigned`, res.Error)
	require.Zero(t, tb.hits.Load(), "nothing was sent, signed or not")
}

// What a try tells its destination's breaker: a failure only when the
// destination did not answer, or answered 5xx or 429; nothing at all when
// no POST was made.
func TestDeliverTellsTheBreaker(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadURL := "http://" + dead.Addr().String() + "/"
	require.NoError(t, dead.Close()) // connection refused from now on

	tests := []struct {
		name    string
		url     string
		secrets []string
		policy  config.Callbacks
		want    string // "ok", "failure", "excluded"
		status  string
	}{
		{"2xx", srv.URL + "/204", []string{"s"}, config.Callbacks{AllowPrivateNetworks: true}, "ok", store.CallbackDelivered},
		{"4xx: it answered", srv.URL + "/400", []string{"s"}, config.Callbacks{AllowPrivateNetworks: true}, "ok", store.CallbackPending},
		{"410: it answered", srv.URL + "/410", []string{"s"}, config.Callbacks{AllowPrivateNetworks: true}, "ok", store.CallbackGaveUp},
		{"429", srv.URL + "/429", []string{"s"}, config.Callbacks{AllowPrivateNetworks: true}, "failure", store.CallbackPending},
		{"5xx", srv.URL + "/503", []string{"s"}, config.Callbacks{AllowPrivateNetworks: true}, "failure", store.CallbackPending},
		{"refused", deadURL, []string{"s"}, config.Callbacks{AllowPrivateNetworks: true}, "failure", store.CallbackPending},
		{"address not allowed", srv.URL + "/204", []string{"s"}, config.Callbacks{}, "excluded", store.CallbackGaveUp},
		{"key gone", srv.URL + "/204", nil, config.Callbacks{AllowPrivateNetworks: true}, "excluded", store.CallbackGaveUp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := &outbox{}
			s := &Sender{Store: o, Secrets: func(string) []string { return tt.secrets }, Owner: "test", Timeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)}
			s.defaults()
			s.SetPolicy(policy(t, tt.policy))
			t.Cleanup(s.Client.CloseIdleConnections)
			err := s.deliver(store.Callback{ID: 1, MessageID: "m1", URL: tt.url, Scope: "shop", Payload: []byte(`{}`), CreatedAt: time.Now()})
			switch tt.want {
			case "ok":
				require.NoError(t, err)
			case "excluded":
				require.ErrorIs(t, err, errExcluded)
			default:
				require.Error(t, err)
				require.NotErrorIs(t, err, errExcluded)
			}
			require.Equal(t, tt.status, o.last(t).Status)
		})
	}
}
