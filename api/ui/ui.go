// Package ui is the support dashboard at /ui/: server-rendered
// html/template pages and one small hand-written script, all embedded (no
// build step, no CDN: it works air-gapped). Sign-in takes an API key of
// role read or admin and sets a signed session cookie (sessions.go); the
// key itself never leaves the sign-in request. Pages refresh themselves by
// polling their own URL with ?fragment=1 and If-None-Match: an unchanged
// view costs a render and a 304.
//
// Package api mounts it (Register) and hands it a Backend (backend.go):
// what it needs of the store, routing, health, the API keys and the config
// in force, and nothing else of the API server.
//
// By concern: sessions.go (signed cookies, CSRF, sign-in and sign-out),
// render.go (templates, pages, fragments, assets), messages.go (the message
// list and one message's timeline), channels.go (channel states, numbers
// and overrides), wording.go (the sentences a support agent reads).
package ui

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/api/view"
)

//go:embed templates/*.html static/*
var uiFiles embed.FS

// The API's views, which the pages render.
type (
	MessageView = view.MessageView
	AttemptView = view.AttemptView
	ChannelView = view.ChannelView
)

// uiState is the dashboard's server-side state: templates, assets, the
// sign-outs this instance remembers and a short cache of the channel
// statistics. Sessions themselves are not kept: the cookie carries them.
type uiState struct {
	tmpl   map[string]*template.Template
	static map[string]uiAsset

	revoked uiRevoked

	statsMu sync.Mutex
	stats   *uiChannelStats
}

// dash is the dashboard: its Backend plus its own state.
type dash struct {
	b   Backend
	log *slog.Logger
	ui  *uiState
}

func (s *dash) now() time.Time { return s.b.Now() }

// Register adds the dashboard's routes to e, the API's router (its
// middleware and error handler apply). They are not part of the JSON
// API: api/openapi_test.go leaves /ui out of its route comparison.
func Register(e *echo.Echo, b Backend, log *slog.Logger) {
	s := &dash{b: b, log: log, ui: newUIState()}
	e.GET("/ui", func(c *echo.Context) error { return c.Redirect(http.StatusMovedPermanently, "/ui/") })
	g := e.Group("/ui", s.uiHeaders)
	g.GET("/static/:file", s.uiStatic)
	g.GET("/login", s.uiLoginForm)
	g.POST("/login", s.uiLogin, s.uiSameOrigin, s.b.LoginGuard(s.uiLoginRefused))
	g.POST("/logout", s.uiLogout, s.uiSameOrigin, s.uiAuth, s.uiCSRF)
	g.GET("/", s.uiMessages, s.uiAuth)
	g.GET("/messages/:id", s.uiMessage, s.uiAuth)
	g.GET("/channels", s.uiChannels, s.uiAuth)
	g.POST("/channels/:name/disable", s.uiOverride(true), s.uiSameOrigin, s.uiAuth, s.uiCSRF, s.uiAdmin)
	g.POST("/channels/:name/enable", s.uiOverride(false), s.uiSameOrigin, s.uiAuth, s.uiCSRF, s.uiAdmin)
	g.POST("/messages/:id/cancel", s.uiCancel, s.uiSameOrigin, s.uiAuth, s.uiCSRF, s.uiAdmin)
}

// uiHeaders: no caching of pages that hold personal data, and a strict
// content policy (no inline script or style, nothing from elsewhere).
func (s *dash) uiHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(c.Request().URL.Path, "/ui/static/") {
			h.Set("Cache-Control", "no-store")
		}
		return next(c)
	}
}
