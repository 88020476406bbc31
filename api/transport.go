package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/internal/clientaddr"
)

// hstsValue asks browsers to use HTTPS only for a year. No
// includeSubDomains: the gateway's name says nothing about its siblings.
const hstsValue = "max-age=31536000"

// trustFor is server.trusted_proxies of one config, parsed once.
type trustFor struct {
	cfg   *config.Config
	trust clientaddr.Trust
}

// trust returns the trusted proxies of the config in force.
func (s *Server) trust() clientaddr.Trust {
	cfg := s.cfg.Load()
	if t := s.trustCache.Load(); t != nil && t.cfg == cfg {
		return t.trust
	}
	t := &trustFor{cfg: cfg, trust: clientaddr.Trust(cfg.Server.TrustedProxyPrefixes())}
	s.trustCache.Store(t)
	return t.trust
}

// overHTTPS reports whether the client reached the gateway over HTTPS: the
// connection is TLS, a trusted proxy says so (X-Forwarded-Proto: https), or
// server.public_url is https (the operator says every client comes that
// way, whatever the proxy in front forwards).
func (s *Server) overHTTPS(r *http.Request) bool {
	if u := s.cfg.Load().Server.PublicURL; len(u) >= 8 && strings.EqualFold(u[:8], "https://") {
		return true
	}
	return s.trust().HTTPS(r)
}

// secureTransport sends Strict-Transport-Security on every response to a
// request that came over HTTPS: a browser that once reached the gateway
// over HTTPS never tries plain HTTP (and its cookie) again.
func (s *Server) secureTransport(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		if s.overHTTPS(c.Request()) {
			c.Response().Header().Set("Strict-Transport-Security", hstsValue)
		}
		return next(c)
	}
}
