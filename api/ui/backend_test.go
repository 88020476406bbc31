package ui_test

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/api/ui"
	"github.com/switchboard-gw/switchboard/api/view"
	"github.com/switchboard-gw/switchboard/channels"
	_ "github.com/switchboard-gw/switchboard/channels/sim"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/pii"
	"github.com/switchboard-gw/switchboard/routing"
	"github.com/switchboard-gw/switchboard/store"
)

// fakeBackend is all a dashboard gets: no API server, no gateway.
type fakeBackend struct {
	cfg    *config.Config
	router *routing.Router
	now    time.Time
	msg    *store.Message

	mu        sync.Mutex
	guarded   int      // sign-ins that went through LoginGuard
	overrides []string // Disable and Enable calls
}

type fakeStore struct{ m *store.Message }

func (f fakeStore) Get(_ context.Context, id string) (*store.Message, error) {
	if id != f.m.ID {
		return nil, store.ErrNotFound
	}
	return f.m, nil
}

func (f fakeStore) List(context.Context, store.ListParams) (store.ListResult, error) {
	return store.ListResult{Messages: []*store.Message{f.m}}, nil
}

func (f fakeStore) Callbacks(context.Context, string) ([]store.Callback, error) { return nil, nil }

func (f fakeStore) RecentAttempts(context.Context, time.Time, time.Time, int) ([]store.Attempt, error) {
	return nil, nil
}

func (f fakeStore) ListSuppressions(context.Context, store.SuppressionListParams) (store.SuppressionPage, error) {
	return store.SuppressionPage{}, nil
}

func (f fakeStore) ListInbound(context.Context, store.InboundListParams) (store.InboundListResult, error) {
	return store.InboundListResult{}, nil
}

func (b *fakeBackend) Config() *config.Config         { return b.cfg }
func (b *fakeBackend) Store() ui.Store                { return fakeStore{b.msg} }
func (b *fakeBackend) Router() *routing.Router        { return b.router }
func (b *fakeBackend) Now() time.Time                 { return b.now }
func (b *fakeBackend) OverHTTPS(r *http.Request) bool { return true }

func (b *fakeBackend) key(k config.APIKey) ui.Key {
	return ui.Key{Name: k.Name, Role: k.Role, Sum: sha256.Sum256([]byte(k.Key.Reveal()))}
}

func (b *fakeBackend) KeyByValue(presented string) (ui.Key, bool) {
	for _, k := range b.cfg.Auth.Keys {
		if k.Key.Reveal() == presented {
			return b.key(k), true
		}
	}
	return ui.Key{}, false
}

func (b *fakeBackend) KeyByName(name string) (ui.Key, bool) {
	for _, k := range b.cfg.Auth.Keys {
		if k.Name == name {
			return b.key(k), true
		}
	}
	return ui.Key{}, false
}

func (b *fakeBackend) LoginGuard(func(*echo.Context, int) error) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			b.mu.Lock()
			b.guarded++
			b.mu.Unlock()
			return next(c)
		}
	}
}

func (b *fakeBackend) MessageView(m *store.Message, withBody bool) view.MessageView {
	v := view.MessageView{ID: m.ID, Status: string(m.Status), Policy: m.Policy, Route: m.Route, Channel: m.Channel,
		To: m.To, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, ExpiresAt: m.ExpiresAt}
	for _, a := range m.History {
		end := a.EndedAt
		v.Attempts = append(v.Attempts, view.AttemptView{Seq: a.Seq, Channel: a.Channel, Status: string(a.Status),
			ErrorClass: a.ErrorClass, Error: a.Error, Reason: a.Reason.String(), StartedAt: a.StartedAt, EndedAt: &end})
	}
	return v
}

func (b *fakeBackend) ChannelViews(context.Context) ([]view.ChannelView, error) {
	var out []view.ChannelView
	for _, l := range b.Router().Lanes() {
		out = append(out, view.ChannelView{Name: l.Name, Type: l.Config.Type, Kind: string(l.Kind), State: "healthy", Breaker: l.BreakerState()})
	}
	return out, nil
}

func (b *fakeBackend) Disable(_ *echo.Context, channel, reason, by string, _ time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.overrides = append(b.overrides, "disable "+channel+": "+reason+" by "+by)
	return nil
}

func (b *fakeBackend) Enable(_ *echo.Context, channel, by string, _ time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.overrides = append(b.overrides, "enable "+channel+" by "+by)
	return nil
}

// TestUIOnItsBackend runs the dashboard on a Backend of the test's own:
// it signs in through the backend's guard with the backend's keys, sets a
// Secure cookie when the backend says HTTPS, shows the backend's messages
// with recipients masked and failovers in words, and sends channel
// overrides to the backend.
func TestUIOnItsBackend(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse("test.yaml", []byte(strings.ReplaceAll(uiConfig, "%DSN%", filepath.Join(t.TempDir(), "sb.db"))))
	require.NoError(t, err)
	var lanes []*routing.Lane
	for _, cc := range cfg.Channels {
		ch, err := channels.Build(cc, channels.Deps{Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		lanes = append(lanes, routing.NewLane(ch, cc, slog.New(slog.DiscardHandler)))
	}
	router, err := routing.NewRouter(cfg.Policies, lanes, nil)
	require.NoError(t, err)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	const phone = "+15551234567"
	m := &store.Message{ID: "0193a7e0-1c2d-7e4f-8a9b-0c1d2e3f4a5b", Status: store.StatusDelivered, Policy: "otp",
		Route: []string{"whatsapp", "sms", "email"}, Channel: "sms", To: store.Recipient{Phone: phone},
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour),
		History: []store.Attempt{
			{Seq: 1, Channel: "whatsapp", Status: store.AttemptFailed, ErrorClass: "permanent",
				Error: "sim: recipient rejected (permanent)", Reason: "error", StartedAt: now, EndedAt: now},
			{Seq: 2, Channel: "sms", Status: store.AttemptDelivered, StartedAt: now, EndedAt: now},
		}}
	b := &fakeBackend{cfg: cfg, router: router, now: now, msg: m}
	e := echo.New()
	ui.Register(e, b, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	u := newUIClient(t, srv.URL)

	r := u.req("POST", "/ui/login", url.Values{"key": {adminKey}, "next": {"/ui/"}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	ck := sessionCookie(r.header)
	require.NotNil(t, ck)
	require.True(t, ck.Secure, "the backend said HTTPS")
	require.Equal(t, 1, b.guarded, "the sign-in went through the backend's guard")
	u.cookie = ck

	r = u.get("/ui/")
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Contains(t, r.body, m.ID)
	require.Contains(t, r.body, pii.Phone(phone)[1:]) // "+" is written &#43;
	require.NotContains(t, r.body, phone[1:], "the number is masked")

	r = u.get("/ui/messages/" + m.ID)
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.Contains(t, r.body, "WhatsApp rejected the message: sim: recipient rejected, so we sent it by SMS.")

	r = u.req("POST", "/ui/channels/sms/disable", url.Values{"csrf": {u.csrf()}, "reason": {"INC-1"}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	r = u.req("POST", "/ui/channels/sms/enable", url.Values{"csrf": {u.csrf()}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	require.Equal(t, []string{"disable sms: INC-1 (ops, dashboard) by ops", "enable sms by ops"}, b.overrides)
}
