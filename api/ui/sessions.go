package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/config"
)

const (
	uiCookie     = "sb_session"
	uiSessionTTL = 12 * time.Hour
	// uiMaxRevoked bounds the sign-outs one instance remembers (16 bytes
	// and an expiry each). Only a signed-in user can add one, and never
	// more than one per sign-in.
	uiMaxRevoked = 10000
)

// ---- sessions ----
//
// A session is a signed cookie, not server state, so that every instance
// that runs the same API keys accepts it: several gateways behind a load
// balancer need no sticky sessions and no shared session store. The
// cookie's value is
//
//	base64url(payload) "." base64url(HMAC-SHA256(k, payload))
//
// with this payload (integers big-endian):
//
//	[0]        version: 1
//	[1:9]      expiry, unix seconds
//	[9:25]     nonce: 16 random bytes
//	[25]       n, the length of the role
//	[26:26+n]  role: "read" or "admin"
//	[26+n:]    key name: the rest, at least one byte
//
// k = HMAC-SHA256(sha256(key value), "switchboard dashboard session v1"),
// from the key that signed in. The keyring keeps only the sha256 of each
// key value, and every instance that loads the same config holds the same
// one; a key is at least 16 characters and meant to be random, so its
// sha256 is as hard to guess as the key itself, and it never leaves the
// process. So there is nothing new to configure or distribute, and
// rotating a key's value or removing the key ends its sessions. A session
// also ends when it expires, when the key's role in the config in force is
// no longer the one it signed in with (a reload that demotes the key) and,
// on the instance that served the sign-out only, when it signs out
// (uiRevoked; README "Support dashboard" says what that means for several
// instances).
//
// The CSRF token is base64url(HMAC-SHA256(k, "csrf" || nonce)): one per
// session, the same on every instance. A payload starts with byte 1 and a
// CSRF input with "c", so neither MAC can stand in for the other.

const (
	uiSessionVersion = 1
	uiSessionLabel   = "switchboard dashboard session v1"
	uiNonceLen       = 16
	uiPayloadFixed   = 1 + 8 + uiNonceLen + 1 // version, expiry, nonce, role length
	// uiMaxCookie is more than a browser keeps in one cookie: a longer
	// value was not set by us and is not decoded at all.
	uiMaxCookie = 4096
	// uiClockSkew is how far ahead of this instance's clock another
	// instance's may be: a session never lasts longer than the TTL and this.
	uiClockSkew = 5 * time.Minute
)

const ctxUISession = "switchboard.ui.session"

// uiSession is one signed-in browser, as its verified cookie says. It
// names the key, never holds it.
type uiSession struct {
	keyName string
	role    config.Role
	nonce   [uiNonceLen]byte
	expires int64  // unix seconds
	csrf    string // uiSessionCSRF
}

// uiClaims is a session cookie's payload.
type uiClaims struct {
	version byte
	expires int64 // unix seconds
	nonce   [uiNonceLen]byte
	role    config.Role
	keyName string
}

func (cl uiClaims) marshal() []byte {
	b := make([]byte, 0, uiPayloadFixed+len(cl.role)+len(cl.keyName))
	b = append(b, cl.version)
	b = binary.BigEndian.AppendUint64(b, uint64(cl.expires))
	b = append(b, cl.nonce[:]...)
	b = append(b, byte(len(cl.role))) // roles are short words (config.Role)
	b = append(b, cl.role...)
	return append(b, cl.keyName...)
}

var b64 = base64.RawURLEncoding.Strict() // Strict: one spelling per value

// decodeUISessionCookie splits a cookie value into its claims, the signed
// bytes and the MAC. It does not check the MAC (verifySession does). It
// accepts only the one canonical spelling of a payload and MAC, and any
// other input is an error, never a panic (FuzzUISessionCookie).
func decodeUISessionCookie(value string) (cl uiClaims, payload, mac []byte, err error) {
	if len(value) > uiMaxCookie {
		return cl, nil, nil, errors.New("cookie too long")
	}
	// The base64 decoder skips CR and LF; refusing every byte outside the
	// alphabet up front keeps one spelling per cookie.
	for i := 0; i < len(value); i++ {
		switch ch := value[i]; {
		case ch >= 'A' && ch <= 'Z', ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '-', ch == '_', ch == '.':
		default:
			return cl, nil, nil, errors.New("cookie is not base64url")
		}
	}
	p, m, ok := strings.Cut(value, ".")
	if !ok {
		return cl, nil, nil, errors.New("cookie has no signature")
	}
	if payload, err = b64.DecodeString(p); err != nil {
		return cl, nil, nil, errors.New("cookie payload is not base64url")
	}
	if mac, err = b64.DecodeString(m); err != nil || len(mac) != sha256.Size {
		return cl, nil, nil, errors.New("cookie signature is not 32 bytes of base64url")
	}
	if len(payload) < uiPayloadFixed {
		return cl, nil, nil, errors.New("cookie payload too short")
	}
	if cl.version = payload[0]; cl.version != uiSessionVersion {
		return cl, nil, nil, fmt.Errorf("cookie version %d, want %d", cl.version, uiSessionVersion)
	}
	cl.expires = int64(binary.BigEndian.Uint64(payload[1:9]))
	copy(cl.nonce[:], payload[9:9+uiNonceLen])
	n, rest := int(payload[uiPayloadFixed-1]), payload[uiPayloadFixed:]
	if n == 0 || n >= len(rest) { // a role and a name of at least one byte each
		return cl, nil, nil, errors.New("cookie payload has no role or no key name")
	}
	cl.role, cl.keyName = config.Role(rest[:n]), string(rest[n:])
	return cl, payload, mac, nil
}

// uiSessionKey is k, the key that signs the sessions of one API key.
func uiSessionKey(key Key) []byte {
	return uiHMAC(key.Sum[:], []byte(uiSessionLabel))
}

func uiHMAC(k []byte, msg ...[]byte) []byte {
	h := hmac.New(sha256.New, k)
	for _, m := range msg {
		h.Write(m)
	}
	return h.Sum(nil)
}

func uiSessionCSRF(k []byte, nonce [uiNonceLen]byte) string {
	return b64.EncodeToString(uiHMAC(k, []byte("csrf"), nonce[:]))
}

// newSession signs a session for key, starting now, and returns the
// cookie value.
func (s *dash) newSession(key Key, now time.Time) string {
	cl := uiClaims{version: uiSessionVersion, expires: now.Add(uiSessionTTL).Unix(), role: key.Role, keyName: key.Name}
	_, _ = rand.Read(cl.nonce[:]) // crypto/rand.Read never fails (Go 1.24+)
	payload := cl.marshal()
	return b64.EncodeToString(payload) + "." + b64.EncodeToString(uiHMAC(uiSessionKey(key), payload))
}

// verifySession returns the session a cookie value carries, or nil and
// why not (for a debug log: never the value).
func (s *dash) verifySession(value string) (*uiSession, string) {
	cl, payload, mac, err := decodeUISessionCookie(value)
	if err != nil {
		return nil, err.Error()
	}
	// Key names are not secret (they are in the cookie and the logs): only
	// the MAC is compared in constant time.
	key, ok := s.b.KeyByName(cl.keyName)
	if !ok {
		return nil, "no key of that name in the config in force"
	}
	k := uiSessionKey(key)
	if !hmac.Equal(mac, uiHMAC(k, payload)) {
		return nil, "bad signature: tampered with, or the key's value changed"
	}
	now := s.now().Unix()
	switch {
	case now >= cl.expires:
		return nil, "expired"
	case cl.expires-now > int64((uiSessionTTL + uiClockSkew).Seconds()):
		return nil, "expiry further ahead than a session lasts"
	case key.Role != cl.role:
		return nil, "the key's role changed"
	case key.Role != config.RoleRead && key.Role != config.RoleAdmin:
		return nil, "the key's role cannot open the dashboard"
	case s.ui.revoked.has(cl.nonce):
		return nil, "signed out"
	}
	return &uiSession{keyName: cl.keyName, role: cl.role, nonce: cl.nonce, expires: cl.expires, csrf: uiSessionCSRF(k, cl.nonce)}, ""
}

// uiRevoked is the sessions signed out on this instance, by nonce, each
// until it would have expired. It is bounded: when full, expired entries go
// first, then the one nearest its expiry (its cookie has the least time
// left to be misused).
type uiRevoked struct {
	mu    sync.Mutex
	until map[[uiNonceLen]byte]int64 // unix seconds
}

func (r *uiRevoked) add(nonce [uiNonceLen]byte, until, now int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.until == nil {
		r.until = map[[uiNonceLen]byte]int64{}
	}
	if _, ok := r.until[nonce]; !ok && len(r.until) >= uiMaxRevoked {
		for n, u := range r.until {
			if u <= now {
				delete(r.until, n)
			}
		}
		if len(r.until) >= uiMaxRevoked {
			var first [uiNonceLen]byte
			firstUntil := int64(math.MaxInt64)
			for n, u := range r.until {
				if u < firstUntil {
					first, firstUntil = n, u
				}
			}
			delete(r.until, first)
		}
	}
	r.until[nonce] = until
}

func (r *uiRevoked) has(nonce [uiNonceLen]byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.until[nonce]
	return ok
}

func (s *dash) setSessionCookie(c *echo.Context, value string, maxAge int) {
	c.SetCookie(&http.Cookie{
		Name: uiCookie, Value: value, Path: "/ui", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.b.OverHTTPS(c.Request()), // api/transport.go
	})
}

// uiAuth requires a live session; a page request without one goes to the
// sign-in form, a fragment (poll) request gets 401 and the script reloads.
func (s *dash) uiAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		var sess *uiSession
		if ck, err := c.Cookie(uiCookie); err == nil && ck.Value != "" {
			var why string
			if sess, why = s.verifySession(ck.Value); sess == nil {
				// Debug only: a stale cookie is routine, but "why am I
				// signed out" on several instances is worth a look.
				s.log.Debug("dashboard session refused", "why", why)
			}
		}
		if sess == nil {
			r := c.Request()
			if r.Method != http.MethodGet || r.URL.Query().Has("fragment") {
				return s.uiError(c, http.StatusUnauthorized, "Signed out", "Your session has ended. Sign in again.")
			}
			return c.Redirect(http.StatusSeeOther, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()))
		}
		c.Set(ctxUISession, sess)
		return next(c)
	}
}

func uiSess(c *echo.Context) *uiSession {
	sess, _ := c.Get(ctxUISession).(*uiSession)
	return sess
}

// uiSameOrigin refuses a cross-site form post when the browser says where
// it comes from (SameSite=Strict and the CSRF token are the main guards;
// this also covers the sign-in form, which has no session yet).
func (s *dash) uiSameOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		r := c.Request()
		if o := r.Header.Get("Origin"); o != "" && o != "null" {
			if u, err := url.Parse(o); err != nil || u.Host != r.Host {
				return s.uiError(c, http.StatusForbidden, "Refused", "This form was posted from another site.")
			}
		}
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			return s.uiError(c, http.StatusForbidden, "Refused", "This form was posted from another site.")
		}
		return next(c)
	}
}

// uiCSRF checks the session's token on a form post. The token is derived
// from the session (uiSessionCSRF), so every instance expects the same one.
func (s *dash) uiCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		sess := uiSess(c)
		// From the POST body only: a token in the URL ends up in proxy
		// logs and the browser's history.
		got := c.Request().PostFormValue("csrf")
		if sess == nil || subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
			return s.uiError(c, http.StatusForbidden, "Refused", "The form was out of date or not from this dashboard. Reload the page and try again.")
		}
		return next(c)
	}
}

// uiAdmin enforces what the pages only hide: channel overrides are for
// admin keys.
func (s *dash) uiAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		if sess := uiSess(c); sess == nil || sess.role != config.RoleAdmin {
			return s.uiError(c, http.StatusForbidden, "Not allowed", "Only an admin key can disable or enable a channel.")
		}
		return next(c)
	}
}

// ---- sign-in ----

type uiLoginData struct {
	Next  string
	Error string
}

func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

func (s *dash) uiLoginForm(c *echo.Context) error {
	return s.render(c, http.StatusOK, "login", s.page(c, "Sign in", "", uiLoginData{Next: safeNext(c.QueryParam("next"))}))
}

func (s *dash) uiLogin(c *echo.Context) error {
	next := safeNext(c.FormValue("next"))
	fail := func(status int, msg string) error {
		return s.render(c, status, "login", s.page(c, "Sign in", "", uiLoginData{Next: next, Error: msg}))
	}
	// The key is read from the POST body only: a key in the URL ends up in
	// proxy, server and browser logs, so such a sign-in is refused even
	// when the body has a key too.
	if c.Request().URL.Query().Has("key") {
		return fail(http.StatusBadRequest, "Send the API key in the form body, never in the URL: URLs are logged. Treat a key that was sent in a URL as exposed.")
	}
	presented := strings.TrimSpace(c.Request().PostFormValue("key"))
	if presented == "" {
		return fail(http.StatusBadRequest, "Enter an API key.")
	}
	key, ok := s.b.KeyByValue(presented)
	if !ok {
		return fail(http.StatusUnauthorized, "That API key is not valid.")
	}
	if key.Role != config.RoleRead && key.Role != config.RoleAdmin {
		return fail(http.StatusForbidden, fmt.Sprintf("The key %q has role %s: it can send messages but cannot open the dashboard. Sign in with a read or admin key.", key.Name, key.Role))
	}
	s.setSessionCookie(c, s.newSession(key, s.now()), int(uiSessionTTL.Seconds()))
	s.log.Info("dashboard sign-in", "key", key.Name, "role", key.Role)
	return c.Redirect(http.StatusSeeOther, next)
}

// uiLoginRefused is the sign-in form with a 429, for an address the API's
// failed-authentication throttle has blocked (Backend.LoginGuard, which
// sets Retry-After).
func (s *dash) uiLoginRefused(c *echo.Context, retry int) error {
	msg := fmt.Sprintf("Too many failed sign-ins from your address. Try again in %d seconds.", retry)
	return s.render(c, http.StatusTooManyRequests, "login", s.page(c, "Sign in", "", uiLoginData{Next: "/ui/", Error: msg}))
}

// uiLogout clears the cookie and remembers the session's nonce as signed
// out on this instance until the session would have expired. Other
// instances do not learn of it: see README "Support dashboard".
func (s *dash) uiLogout(c *echo.Context) error {
	if sess := uiSess(c); sess != nil { // uiAuth ran: always set
		s.ui.revoked.add(sess.nonce, sess.expires, s.now().Unix())
		s.log.Info("dashboard sign-out", "key", sess.keyName)
	}
	s.setSessionCookie(c, "", -1)
	return c.Redirect(http.StatusSeeOther, "/ui/login")
}
