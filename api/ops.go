package api

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/callbacks"
	"github.com/switchboard-gw/switchboard/config"
)

// registerOps adds the operator endpoints (config reload).
func (s *Server) registerOps(e *echo.Echo, v1 *echo.Group) {
	// Prometheus and Alertmanager spell it /-/reload; ops tooling knows it.
	e.POST("/-/reload", s.reload, s.keys.requireRole(config.RoleAdmin))
}

// SetConfig puts a reloaded config in force for the API: its API keys
// replace the old ones at once, so a removed key stops working with the
// reload that removed it, and its callback address policy applies to the
// next message submitted.
func (s *Server) SetConfig(cfg *config.Config) {
	s.keys.set(cfg.Auth.Keys)
	s.setLimits(cfg)
	s.setCallbackPolicy(cfg)
	s.cfg.Store(cfg)
}

// setCallbackPolicy builds cfg's callback address policy for the submit
// check (SendRequest.checkCallbackAddress).
func (s *Server) setCallbackPolicy(cfg *config.Config) {
	p, err := callbacks.NewAddressPolicy(cfg.Callbacks)
	if err != nil {
		// Only a config that skipped validation gets here. Fail closed:
		// nil allows public addresses only, as the default config does.
		s.log.Error("callback address policy: using the default, public addresses only", "err", err)
	}
	s.cbPolicy.Store(p)
}

// config returns the config in force.
func (s *Server) config() *config.Config { return s.cfg.Load() }

// ReloadResponse is the 200 body of POST /-/reload.
type ReloadResponse struct {
	Status  string      `json:"status"`  // "reloaded" or "unchanged"
	Summary string      `json:"summary"` // config.Diff.String()
	Diff    config.Diff `json:"diff"`
}

func (s *Server) reload(c *echo.Context) error {
	if s.deps.Reload == nil {
		return errorf(http.StatusConflict, "reload_unavailable", "", "the gateway runs the embedded example config; start it with --config FILE to reload")
	}
	key, _ := c.Get(ctxKeyName).(string)
	s.log.Info("config reload requested", "source", "api", "key", key)
	diff, err := s.deps.Reload(c.Request().Context())
	if err != nil {
		// A config the operator can fix: every located error, so one
		// round trip shows them all. The old config keeps running.
		var ces config.Errors
		var ce *config.Error
		if errors.As(err, &ces) || errors.As(err, &ce) {
			return unprocessable("invalid_config", "", "%s", err.Error())
		}
		return err
	}
	status := "reloaded"
	if diff.Empty() {
		status = "unchanged"
	}
	return c.JSON(http.StatusOK, ReloadResponse{Status: status, Summary: diff.String(), Diff: diff})
}
