package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/internal/clientaddr"
)

// Abuse limits: per-key send rate limits (auth.keys[].rate, api/ratelimit.go)
// and the failed-authentication throttle (api/authguard.go). Both live in
// this process only.
//
// Only sends are rate limited: POST /v1/messages (one token) and
// POST /v1/messages/batch (one per item). Explain, lookups and lists send
// nothing and cost no provider money, and explain is how an operator finds
// out why a key's sends are refused.

func (s *Server) initLimits(d Deps) {
	s.limitNow = d.LimitNow
	if s.limitNow == nil {
		s.limitNow = s.now
	}
	now := s.limitNow()
	s.limits = newKeyLimits(d.Config.Auth.Keys, now)
	s.guard = newAuthGuard(s.log, d.AuthFailed, clientaddr.Trust(d.Config.Server.TrustedProxyPrefixes()), now)
	s.keys.guard, s.keys.clock = s.guard, s.limitNow
}

// setLimits applies a reloaded config: changed rates, new and removed keys.
func (s *Server) setLimits(cfg *config.Config) {
	s.limits.set(cfg.Auth.Keys, s.limitNow())
	s.guard.setTrust(clientaddr.Trust(cfg.Server.TrustedProxyPrefixes()))
}

// takeSends takes up to n send tokens for the request's API key and
// counts the refused ones. retry is the Retry-After in seconds when
// took < n.
func (s *Server) takeSends(c *echo.Context, n int) (name string, took, retry int) {
	name, _ = c.Get(ctxKeyName).(string)
	took, retry = s.limits.take(name, s.limitNow(), n)
	if took < n && s.deps.RateLimited != nil {
		s.deps.RateLimited(name, n-took)
	}
	return name, took, retry
}

func (s *Server) rateLimited(name string, retry int, what string) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", RetryAfter: retry,
		Message: fmt.Sprintf("API key %q is over its rate limit (%s): %s was not accepted; retry after %d s", name, s.limits.describe(name), what, retry)}
}

// limitSend refuses a single send over the key's rate (before the body is
// read: a refused request costs little).
func (s *Server) limitSend(c *echo.Context) error {
	if name, took, retry := s.takeSends(c, 1); took < 1 {
		return s.rateLimited(name, retry, "the message")
	}
	return nil
}

// limitBatch takes one token per batch item and returns how many of the
// first items may go ahead; the others get a per-item rate_limited error
// (batchRateLimited). With no token at all the whole batch is a 429, like
// a single send, so a client's retry logic sees Retry-After.
func (s *Server) limitBatch(c *echo.Context, items int) (allowed int, limited *Error, err error) {
	name, took, retry := s.takeSends(c, items)
	if took == 0 {
		return 0, nil, s.rateLimited(name, retry, "no message of the batch")
	}
	if took < items {
		limited = s.rateLimited(name, retry, "this item")
	}
	return took, limited, nil
}

// uiLoginGuard applies the failed-authentication throttle to the dashboard
// sign-in (POST /ui/login): a blocked address gets refused, the dashboard's
// sign-in form with a 429, after Retry-After is set, whatever key it sends;
// a refused sign-in counts as a failure by its status, which the dashboard
// gives as 400 (no key), 401 (wrong key) or 403 (a send key).
func (s *Server) uiLoginGuard(refused func(c *echo.Context, retry int) error) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return s.uiLoginGuarded(next, refused)
	}
}

func (s *Server) uiLoginGuarded(next echo.HandlerFunc, refused func(c *echo.Context, retry int) error) echo.HandlerFunc {
	return func(c *echo.Context) error {
		ip := s.guard.clientIP(c.Request())
		if retry, blocked := s.guard.blocked(ip, s.limitNow()); blocked {
			c.Response().Header().Set("Retry-After", strconv.Itoa(retry))
			return refused(c, retry)
		}
		err := next(c)
		status := 0
		if r, _ := echo.UnwrapResponse(c.Response()); r != nil {
			status = r.Status
		}
		presented := strings.TrimSpace(c.Request().PostFormValue("key"))
		switch status {
		case http.StatusBadRequest:
			s.guard.failed(ip, s.limitNow(), authMissing, c.Request().URL.Path)
		case http.StatusUnauthorized:
			s.guard.failed(ip, s.limitNow(), authInvalid, c.Request().URL.Path, "key_prefix", keyPrefix(presented))
		case http.StatusForbidden:
			var attrs []any
			if key, ok := s.keys.lookup(presented); ok {
				attrs = []any{"key", key.name, "role", string(key.role)}
			}
			s.guard.failed(ip, s.limitNow(), authForbidden, c.Request().URL.Path, attrs...)
		}
		return err
	}
}
