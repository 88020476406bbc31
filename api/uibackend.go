package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/api/ui"
	"github.com/switchboard-gw/switchboard/api/view"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/routing"
	"github.com/switchboard-gw/switchboard/store"
)

// uiBackend is what the support dashboard (api/ui) gets of the server.
type uiBackend struct{ s *Server }

var _ ui.Backend = uiBackend{}

func (b uiBackend) Config() *config.Config  { return b.s.config() }
func (b uiBackend) Store() ui.Store         { return b.s.deps.Store }
func (b uiBackend) Router() *routing.Router { return b.s.deps.Dispatch.Router() }
func (b uiBackend) Now() time.Time          { return b.s.now() }

func (b uiBackend) OverHTTPS(r *http.Request) bool { return b.s.overHTTPS(r) }

func (b uiBackend) LoginGuard(refused func(c *echo.Context, retry int) error) echo.MiddlewareFunc {
	return b.s.uiLoginGuard(refused)
}

func uiKey(k hashedKey) ui.Key { return ui.Key{Name: k.name, Role: k.role, Sum: k.sum} }

func (b uiBackend) KeyByValue(presented string) (ui.Key, bool) {
	k, ok := b.s.keys.lookup(presented)
	return uiKey(k), ok
}

// KeyByName looks in the config in force, so a reload that removes,
// demotes or rotates a key ends its dashboard sessions too.
func (b uiBackend) KeyByName(name string) (ui.Key, bool) {
	for _, key := range *b.s.keys.keys.Load() {
		if key.name == name {
			return uiKey(key), true
		}
	}
	return ui.Key{}, false
}

func (b uiBackend) MessageView(m *store.Message, withBody bool) view.MessageView {
	return b.s.viewOf(m, withBody)
}

func (b uiBackend) ChannelViews(ctx context.Context) ([]view.ChannelView, error) {
	return b.s.channelViews(ctx)
}

func (b uiBackend) Disable(c *echo.Context, channel, reason, by string, at time.Time) error {
	if err := b.s.saveOverride(c, channel, true, reason, by, at); err != nil {
		return err
	}
	return b.s.deps.Health.DisableBy(channel, reason, by, at)
}

func (b uiBackend) Enable(c *echo.Context, channel, by string, at time.Time) error {
	if err := b.s.saveOverride(c, channel, false, "", by, at); err != nil {
		return err
	}
	return b.s.deps.Health.Enable(channel)
}
