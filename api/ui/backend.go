package ui

import (
	"context"
	"crypto/sha256"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/api/view"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/routing"
	"github.com/switchboard-gw/switchboard/store"
)

// Backend is everything the dashboard needs from the gateway. Package api
// implements it over its server; the dashboard sees nothing else of it.
type Backend interface {
	// Config is the config in force (it changes on a reload).
	Config() *config.Config
	// Store is the message store.
	Store() Store
	// Router is the routing core's router in force: lanes and policies.
	Router() *routing.Router
	Now() time.Time

	// KeyByValue is the API key a sign-in presented, compared in constant
	// time; KeyByName is the key of that name in the config in force, so a
	// reload that removes, demotes or rotates a key ends its sessions too.
	KeyByValue(presented string) (Key, bool)
	KeyByName(name string) (Key, bool)
	// LoginGuard is the API's failed-authentication throttle as middleware
	// for the sign-in: a blocked address gets refused (after Retry-After is
	// set), and a refused sign-in counts as a failure by its status.
	LoginGuard(refused func(c *echo.Context, retry int) error) echo.MiddlewareFunc
	// OverHTTPS says whether the browser reached the gateway over HTTPS
	// (the session cookie is Secure then), believing only trusted proxies.
	OverHTTPS(r *http.Request) bool

	// MessageView and ChannelViews are the API's views of a message and of
	// every channel in config order, with its spend today (GET
	// /v1/messages/{id}, GET /v1/channels).
	MessageView(m *store.Message, withBody bool) view.MessageView
	ChannelViews(ctx context.Context) ([]view.ChannelView, error)
	// Disable and Enable are the ops overrides of a channel, stored (when
	// the store keeps them) before they take effect, as the API's are.
	// by is the API key's name. An error is the API's to answer.
	Disable(c *echo.Context, channel, reason, by string, at time.Time) error
	Enable(c *echo.Context, channel, by string, at time.Time) error
}

// Store is what the dashboard reads of the message store.
type Store interface {
	Get(ctx context.Context, id string) (*store.Message, error)
	List(ctx context.Context, p store.ListParams) (store.ListResult, error)
	// Callbacks are a message's status callbacks (the message page).
	Callbacks(ctx context.Context, messageID string) ([]store.Callback, error)
	// RecentAttempts feeds the channel page's statistics.
	RecentAttempts(ctx context.Context, acceptedSince, since time.Time, limit int) ([]store.Attempt, error)
	// ListSuppressions shows the recipient's opt-outs (the message page).
	ListSuppressions(ctx context.Context, p store.SuppressionListParams) (store.SuppressionPage, error)
	// ListInbound shows what the recipient sent back (the message page).
	ListInbound(ctx context.Context, p store.InboundListParams) (store.InboundListResult, error)
}

// Key is an API key as the dashboard knows it: never its value.
type Key struct {
	Name string
	Role config.Role
	// Sum is the sha256 of the key's value, which the API's keyring keeps:
	// it signs the key's sessions (see "sessions") and never leaves the
	// process.
	Sum [sha256.Size]byte
}
