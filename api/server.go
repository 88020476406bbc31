package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/api/ui"
	"github.com/switchboard-gw/switchboard/callbacks"
	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/health"
	"github.com/switchboard-gw/switchboard/internal/lograte"
	"github.com/switchboard-gw/switchboard/routing"
	"github.com/switchboard-gw/switchboard/store"
)

// HealthView is what the API needs from the health monitor.
type HealthView interface {
	Status(name string) (health.Status, bool)
	Disable(name, reason string) error
	// DisableBy is Disable recording who (an API key name) and when.
	DisableBy(name, reason, by string, at time.Time) error
	Enable(name string) error
}

// Dispatch is what the API needs from the routing core.
type Dispatch interface {
	Router() *routing.Router
	Wake()
	// The in-process hand-off (see routing.Dispatcher.Reserve).
	Reserve() bool
	Unreserve()
	Submit(m *store.Message)
	Owner() string
	Lease() time.Duration
}

// Deps are the parts the API serves.
type Deps struct {
	Config   *config.Config
	Store    store.Store
	Dispatch Dispatch
	Health   HealthView
	Receipts channels.ReceiptSink // where provider callbacks go
	// Inbound takes the messages people send, from provider webhooks
	// (package inbound); nil: they are acknowledged and dropped.
	Inbound channels.InboundSink
	// Metrics serves GET /metrics (nil: no endpoint).
	Metrics http.Handler
	// Accepted is called for every newly accepted message (metrics).
	Accepted func(policy string)
	// Handoff stores new messages leased to the local dispatcher and hands
	// them over in memory (the store must honour Enqueue's lease fields).
	Handoff bool
	Logger  *slog.Logger
	Now     func() time.Time // for tests; default time.Now
	// Reload re-reads the config file and applies it (POST /-/reload);
	// nil when the gateway runs a config that has no file.
	Reload func(ctx context.Context) (config.Diff, error)
	// Abuse limits (api/limits.go): metrics hooks (nil: none) and the
	// clock of the per-key rate limits and the failed-authentication
	// throttle (default time.Now; tests advance it instead of sleeping).
	RateLimited func(key string, n int)
	// AdmissionRefused counts a send a policy refused (its countries or
	// per-recipient limit), by policy and error code (nil: not counted).
	AdmissionRefused func(policy, code string)
	AuthFailed       func(reason string)
	LimitNow         func() time.Time

	// EnqueueTimeout bounds a send's write to the store, which does not
	// end with the request (see accept). Zero: 20 s.
	EnqueueTimeout time.Duration
}

// Server is the HTTP API.
type Server struct {
	deps Deps
	keys *keyring
	cfg  atomic.Pointer[config.Config] // the config in force; see SetConfig
	echo *echo.Echo
	log  *slog.Logger
	now  func() time.Time

	// cbPolicy is the callback address policy of the config in force,
	// for the submit check (SendRequest.checkCallbackAddress).
	cbPolicy atomic.Pointer[callbacks.AddressPolicy]
	// trustCache is server.trusted_proxies of the config in force (transport.go).
	trustCache atomic.Pointer[trustFor]

	// Per-key rate limits and the failed-authentication throttle
	// (api/limits.go).
	limits   *keyLimits
	guard    *authGuard
	limitNow func() time.Time

	// A store outage fails every request that touches it: one log line
	// per interval each, with a count (internal/lograte), not one per
	// request. Sends refused, other requests refused, readiness checks,
	// provider webhooks whose receipt could not be recorded.
	enqueueLog, unavailableLog, readyLog, receiptLog lograte.Limiter
}

// New builds the API and its routes.
func New(d Deps) *Server {
	s := &Server{deps: d, keys: newKeyring(d.Config.Auth.Keys), log: d.Logger, now: d.Now}
	s.cfg.Store(d.Config)
	if s.log == nil {
		s.log = slog.Default()
	}
	s.setCallbackPolicy(d.Config)
	if s.now == nil {
		s.now = time.Now
	}
	s.initLimits(d)
	e := echo.New()
	e.HTTPErrorHandler = errorHandler(s.log, &s.unavailableLog)
	e.Use(s.recoverPanics, s.accessLog, s.secureTransport)

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if d.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(d.Metrics))
	}

	send, read, admin := config.RoleSend, config.RoleRead, config.RoleAdmin
	v1 := e.Group("/v1")
	v1.POST("/messages", s.sendMessage, s.keys.requireRole(send, admin))
	v1.GET("/messages/:id", s.getMessage, s.keys.requireRole(send, read, admin))
	v1.GET("/messages", s.listMessages, s.keys.requireRole(read, admin))
	v1.GET("/channels", s.listChannels, s.keys.requireRole(read, admin))
	v1.POST("/channels/:name/disable", s.disableChannel, s.keys.requireRole(admin))
	v1.POST("/channels/:name/enable", s.enableChannel, s.keys.requireRole(admin))
	v1.POST("/channels/:name/sim", s.setSimMode, s.keys.requireRole(admin))
	v1.POST("/routes/explain", s.explain, s.keys.requireRole(send, read, admin))
	// Provider callbacks: channels.WebhookPrefix is the one spelling of
	// the path, which providers also build their callback URLs from.
	e.GET(channels.WebhookPrefix+":provider", s.webhook)
	e.POST(channels.WebhookPrefix+":provider", s.webhook)
	// Each feature area registers its own routes from its own file.
	s.registerOps(e, v1)
	s.registerInbound(v1) // api/inbound.go
	s.registerAPIDocs(e, v1)
	ui.Register(e, uiBackend{s}, s.log) // the support dashboard, /ui/ (package api/ui)
	s.echo = e
	return s
}

// ServeHTTP makes the API an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

func (s *Server) healthz(c *echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether the gateway can accept messages: the store answers.
func (s *Server) readyz(c *echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.deps.Store.Ping(ctx); err != nil {
		s.readyLog.Log(s.log, slog.LevelWarn, "readiness check failed", "err", err)
		return &Error{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: "the message store is not available", RetryAfter: 1, cause: err}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// recoverPanics turns a handler panic into a logged 500: one bad request
// must not take the gateway down.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) (err error) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in handler", "method", c.Request().Method, "path", c.Request().URL.Path, "panic", p)
				err = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; the gateway logged the details"}
			}
		}()
		return next(c)
	}
}

// accessLog logs method, path and status. Bodies and query strings are never
// logged: they hold phone numbers, emails and message text.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		start := time.Now()
		err := next(c)
		status := http.StatusOK
		if r, _ := echo.UnwrapResponse(c.Response()); r != nil && r.Status != 0 {
			status = r.Status
		}
		if sc, ok := err.(interface{ StatusCode() int }); ok && err != nil {
			status = sc.StatusCode()
		} else if err != nil {
			status = http.StatusInternalServerError
		}
		if s.log.Enabled(c.Request().Context(), slog.LevelDebug) || status >= 500 {
			level := levelFor(status)
			if errors.Is(err, store.ErrFatal) {
				// Refused because the store failed for good: the gateway
				// logs that once, at ERROR, and is shutting down.
				level = slog.LevelWarn
			}
			if errors.Is(err, store.ErrUnavailable) {
				// Refused because the store cannot be reached: counted on
				// the once-per-interval lines of accept and errorHandler.
				return err
			}
			s.log.Log(c.Request().Context(), level, "http request",
				"method", c.Request().Method, "path", c.Request().URL.Path, "status", status,
				"duration", time.Since(start))
		}
		return err
	}
}

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelDebug
}
