package api

// The support dashboard at /ui/: server-rendered html/template pages and one
// small hand-written script, all embedded (no build step, no CDN: it works
// air-gapped). Sign-in takes an API key of role read or admin and sets a
// signed session cookie (see "sessions" below); the key itself never leaves
// the sign-in request. Pages refresh themselves by polling their own URL
// with ?fragment=1 and If-None-Match: an unchanged view costs a render and
// a 304.

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/pii"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

//go:embed ui/templates/*.html ui/static/*
var uiFiles embed.FS

const (
	uiCookie     = "sb_session"
	uiSessionTTL = 12 * time.Hour
	// uiMaxRevoked bounds the sign-outs one instance remembers (16 bytes
	// and an expiry each). Only a signed-in user can add one, and never
	// more than one per sign-in.
	uiMaxRevoked = 10000
	// uiStatsWindow is the span of the channel view's numbers.
	uiStatsWindow = 5 * time.Minute
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

type uiAsset struct {
	body  []byte
	etag  string
	ctype string
}

func newUIState() *uiState {
	u := &uiState{tmpl: map[string]*template.Template{}, static: map[string]uiAsset{}}
	for _, page := range []string{"login", "messages", "message", "channels", "error"} {
		u.tmpl[page] = template.Must(template.New("layout.html").Funcs(uiFuncs).ParseFS(uiFiles,
			"ui/templates/layout.html", "ui/templates/"+page+".html"))
	}
	err := fs.WalkDir(uiFiles, "ui/static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := uiFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}[path.Ext(p)]
		u.static[path.Base(p)] = uiAsset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ctype}
		return nil
	})
	if err != nil {
		panic(err) // embedded at build time: cannot fail at run time
	}
	return u
}

// dash is the dashboard: the API server's parts plus its own state.
type dash struct {
	*Server
	ui *uiState
}

// registerUI adds the dashboard's routes. They are not part of the JSON
// API: api/openapi_test.go leaves /ui out of its route comparison.
func (srv *Server) registerUI(e *echo.Echo) {
	s := &dash{Server: srv, ui: newUIState()}
	e.GET("/ui", func(c *echo.Context) error { return c.Redirect(http.StatusMovedPermanently, "/ui/") })
	g := e.Group("/ui", s.uiHeaders)
	g.GET("/static/:file", s.uiStatic)
	g.GET("/login", s.uiLoginForm)
	g.POST("/login", s.uiLogin, s.uiSameOrigin, s.uiLoginGuard)
	g.POST("/logout", s.uiLogout, s.uiSameOrigin, s.uiAuth, s.uiCSRF)
	g.GET("/", s.uiMessages, s.uiAuth)
	g.GET("/messages/:id", s.uiMessage, s.uiAuth)
	g.GET("/channels", s.uiChannels, s.uiAuth)
	g.POST("/channels/:name/disable", s.uiOverride(true), s.uiSameOrigin, s.uiAuth, s.uiCSRF, s.uiAdmin)
	g.POST("/channels/:name/enable", s.uiOverride(false), s.uiSameOrigin, s.uiAuth, s.uiCSRF, s.uiAdmin)
}

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
func uiSessionKey(key hashedKey) []byte {
	return uiHMAC(key.sum[:], []byte(uiSessionLabel))
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
func (s *dash) newSession(key hashedKey, now time.Time) string {
	cl := uiClaims{version: uiSessionVersion, expires: now.Add(uiSessionTTL).Unix(), role: key.role, keyName: key.name}
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
	key, ok := s.keys.byName(cl.keyName)
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
	case key.role != cl.role:
		return nil, "the key's role changed"
	case key.role != config.RoleRead && key.role != config.RoleAdmin:
		return nil, "the key's role cannot open the dashboard"
	case s.ui.revoked.has(cl.nonce):
		return nil, "signed out"
	}
	return &uiSession{keyName: cl.keyName, role: cl.role, nonce: cl.nonce, expires: cl.expires, csrf: uiSessionCSRF(k, cl.nonce)}, ""
}

// byName is the key of that name in the config in force, so a reload that
// removes, demotes or rotates a key ends its dashboard sessions too.
func (k *keyring) byName(name string) (hashedKey, bool) {
	for _, key := range *k.keys.Load() {
		if key.name == name {
			return key, true
		}
	}
	return hashedKey{}, false
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
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.overHTTPS(c.Request()), // api/transport.go
	})
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
		got := c.FormValue("csrf")
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

// ---- rendering ----

// uiPage is what every template gets.
type uiPage struct {
	Title    string
	Nav      string // "messages" or "channels"
	KeyName  string
	Role     string
	IsAdmin  bool
	CSRF     string
	LiveURL  string // polled with ?fragment=1; "" for a static page
	Fragment bool
	Data     any
}

func (s *dash) page(c *echo.Context, title, nav string, data any) uiPage {
	p := uiPage{Title: title, Nav: nav, Data: data}
	if sess := uiSess(c); sess != nil {
		p.KeyName, p.Role, p.IsAdmin, p.CSRF = sess.keyName, string(sess.role), sess.role == config.RoleAdmin, sess.csrf
	}
	return p
}

// render writes a page, or with ?fragment=1 only its live part, with an
// ETag over the bytes: an unchanged view answers 304.
func (s *dash) render(c *echo.Context, status int, name string, p uiPage) error {
	r := c.Request()
	p.Fragment = r.URL.Query().Has("fragment")
	var buf bytes.Buffer
	tmpl := "layout.html"
	if p.Fragment {
		tmpl = "live"
	}
	if err := s.ui.tmpl[name].ExecuteTemplate(&buf, tmpl, p); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	if p.Fragment && status == http.StatusOK {
		sum := sha256.Sum256(buf.Bytes())
		etag := `"` + hex.EncodeToString(sum[:12]) + `"`
		h := c.Response().Header()
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache, private")
		if etagMatch(r.Header.Get("If-None-Match"), etag) {
			return c.NoContent(http.StatusNotModified)
		}
	}
	return c.HTMLBlob(status, buf.Bytes())
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

type uiErrorData struct{ Heading, Text string }

func (s *dash) uiError(c *echo.Context, status int, heading, text string) error {
	p := s.page(c, heading, "", uiErrorData{heading, text})
	var buf bytes.Buffer
	if err := s.ui.tmpl["error"].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		return fmt.Errorf("render error page: %w", err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

func (s *dash) uiStatic(c *echo.Context) error {
	a, ok := s.ui.static[c.Param("file")]
	if !ok {
		return c.NoContent(http.StatusNotFound)
	}
	h := c.Response().Header()
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	if etagMatch(c.Request().Header.Get("If-None-Match"), a.etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, a.ctype, a.body)
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
	key, ok := s.keys.lookup(presented)
	if !ok {
		return fail(http.StatusUnauthorized, "That API key is not valid.")
	}
	if key.role != config.RoleRead && key.role != config.RoleAdmin {
		return fail(http.StatusForbidden, fmt.Sprintf("The key %q has role %s: it can send messages but cannot open the dashboard. Sign in with a read or admin key.", key.name, key.role))
	}
	s.setSessionCookie(c, s.newSession(key, s.now()), int(uiSessionTTL.Seconds()))
	s.log.Info("dashboard sign-in", "key", key.name, "role", key.role)
	return c.Redirect(http.StatusSeeOther, next)
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

// ---- messages ----

var uiStatuses = []store.Status{store.StatusQueued, store.StatusSending, store.StatusSent,
	store.StatusDelivered, store.StatusRead, store.StatusFailed, store.StatusExpired}

type uiMessagesData struct {
	Q, Status, Channel, Policy, Tag, From, To, TZO string
	Statuses                                       []store.Status
	Channels, Policies                             []string
	Error                                          string
	Rows                                           []uiRow
	NextURL, FirstURL                              string
	Filtered                                       bool
}

type uiRow struct {
	ID, Status, Policy, Channel string
	Fallback, Duplicate         bool
	To                          []uiAddr
	Tags                        []string
	At                          time.Time
}

type uiAddr struct{ Kind, Value string }

func maskedAddrs(to store.Recipient) []uiAddr {
	var out []uiAddr
	if to.Phone != "" {
		out = append(out, uiAddr{"SMS", pii.Phone(to.Phone)})
	}
	if to.WhatsApp != "" && to.WhatsApp != to.Phone {
		out = append(out, uiAddr{"WhatsApp", pii.Phone(to.WhatsApp)})
	}
	if to.Email != "" {
		out = append(out, uiAddr{"Email", pii.Email(to.Email)})
	}
	if to.Telegram != "" {
		out = append(out, uiAddr{"Telegram", pii.ID(to.Telegram)})
	}
	return out
}

// normalizeRecipient turns what an agent pastes into the stored form: a
// WhatsApp or tel: prefix goes, and a phone number loses its spacing.
func normalizeRecipient(q string) string {
	q = strings.TrimSpace(q)
	for _, p := range []string{"whatsapp:", "tel:", "mailto:"} {
		if len(q) > len(p) && strings.EqualFold(q[:len(p)], p) {
			q = q[len(p):]
		}
	}
	if strings.ContainsAny(q, "@") {
		return q
	}
	digits, phoneish := 0, true
	for _, r := range q {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' || r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
		default:
			phoneish = false
		}
	}
	if phoneish && digits > 0 {
		return strings.Map(func(r rune) rune {
			if r == '+' || (r >= '0' && r <= '9') {
				return r
			}
			return -1
		}, q)
	}
	return q
}

// parseLocal reads a datetime-local value in the viewer's offset (minutes
// east of UTC, sent by the script; UTC without it).
func parseLocal(v, tzo string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	off := 0
	if tzo != "" {
		if _, err := fmt.Sscanf(tzo, "%d", &off); err != nil || off < -14*60 || off > 14*60 {
			off = 0
		}
	}
	loc := time.FixedZone("viewer", off*60)
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time", v)
}

func (s *dash) uiMessages(c *echo.Context) error {
	q := c.Request().URL.Query()
	router := s.deps.Dispatch.Router()
	d := uiMessagesData{
		Q: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Channel: q.Get("channel"),
		Policy: q.Get("policy"), Tag: strings.TrimSpace(q.Get("tag")), From: q.Get("from"), To: q.Get("to"),
		TZO: q.Get("tzo"), Statuses: uiStatuses,
	}
	for _, l := range router.Lanes() {
		d.Channels = append(d.Channels, l.Name)
	}
	for _, p := range s.config().Policies {
		d.Policies = append(d.Policies, p.Name)
	}
	p := store.ListParams{
		Status: store.Status(d.Status), Channel: d.Channel, Policy: d.Policy, Tag: d.Tag,
		Cursor: q.Get("cursor"), Limit: 50,
	}
	// A message id jumps straight to the message.
	if id, err := uuid.Parse(d.Q); err == nil && len(d.Q) == 36 {
		_, err := s.deps.Store.Get(c.Request().Context(), id.String())
		switch {
		case err == nil:
			return c.Redirect(http.StatusSeeOther, "/ui/messages/"+id.String())
		case errors.Is(err, store.ErrNotFound):
			d.Error = "No message has the id " + d.Q + "."
		default:
			return fmt.Errorf("get message: %w", err)
		}
	} else if d.Q != "" {
		p.To = normalizeRecipient(d.Q)
	}
	if p.Status != "" && !p.Status.Valid() {
		d.Error = "Unknown status " + d.Status + "."
	}
	var err error
	if p.Since, err = parseLocal(d.From, d.TZO); err != nil {
		d.Error = "From: " + err.Error()
	}
	if p.Until, err = parseLocal(d.To, d.TZO); err != nil {
		d.Error = "To: " + err.Error()
	}
	d.Filtered = d.Q != "" || d.Status != "" || d.Channel != "" || d.Policy != "" || d.Tag != "" || d.From != "" || d.To != ""
	page := s.page(c, "Messages", "messages", &d)
	if p.Cursor == "" {
		page.LiveURL = c.Request().URL.RequestURI()
	}
	if d.Error != "" {
		return s.render(c, http.StatusOK, "messages", page)
	}
	res, err := s.deps.Store.List(c.Request().Context(), p)
	if errors.Is(err, store.ErrInvalidCursor) {
		d.Error = "That page link is not valid any more; showing the newest messages."
		p.Cursor = ""
		res, err = s.deps.Store.List(c.Request().Context(), p)
	}
	if err != nil {
		return fmt.Errorf("list messages: %w", err)
	}
	for _, m := range res.Messages {
		v := messageView(m, false)
		d.Rows = append(d.Rows, uiRow{ID: m.ID, Status: v.Status, Policy: v.Policy, Channel: v.Channel,
			Fallback: v.IsFallback, Duplicate: v.Duplicate, To: maskedAddrs(m.To), Tags: m.Tags, At: v.CreatedAt})
	}
	if res.NextCursor != "" || p.Cursor != "" {
		u := *c.Request().URL
		qq := u.Query()
		qq.Del("fragment")
		qq.Del("cursor")
		u.RawQuery = qq.Encode()
		if p.Cursor != "" {
			d.FirstURL = u.RequestURI()
		}
		if res.NextCursor != "" {
			qq.Set("cursor", res.NextCursor)
			u.RawQuery = qq.Encode()
			d.NextURL = u.RequestURI()
		}
	}
	return s.render(c, http.StatusOK, "messages", page)
}

// ---- one message ----

type uiMessageData struct {
	M          MessageView
	Delivered  string // channel that took it
	Steps      []uiStep
	Route      []uiRouteHop
	Late       bool
	Dups       []string // channels that delivered it
	Callbacks  []store.Callback
	HasCBStore bool
}

type uiRouteHop struct {
	Channel, Label string
	Used, Took     bool
}

// uiStep is one attempt on the timeline, with the sentence that explains
// what happened after it.
type uiStep struct {
	A      AttemptView
	Label  string // the channel, in words ("WhatsApp")
	Why    string // why the route moved on, in words; "" if it did not
	Retry  bool   // a transient failure retried on the same channel
	Events []uiEvent
}

type uiEvent struct {
	Name string
	At   *time.Time
}

func (s *dash) uiMessage(c *echo.Context) error {
	id := c.Param("id")
	if _, err := uuid.Parse(id); err != nil {
		return s.uiError(c, http.StatusNotFound, "Not found", "No message has the id "+id+".")
	}
	m, err := s.deps.Store.Get(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return s.uiError(c, http.StatusNotFound, "Not found", "No message has the id "+id+".")
	}
	if err != nil {
		return fmt.Errorf("get message: %w", err)
	}
	v := messageView(m, true)
	d := uiMessageData{M: v}
	pol := s.deps.Dispatch.Router().Policy(m.Policy)
	used := map[string]bool{}
	for i, a := range v.Attempts {
		// "sim: provider unavailable (503) (transient)": the class is
		// shown as its own tag.
		a.Error = strings.TrimSuffix(a.Error, " ("+a.ErrorClass+")")
		st := uiStep{A: a, Label: s.channelLabel(a.Channel)}
		used[a.Channel] = true
		var next *AttemptView
		if i+1 < len(v.Attempts) {
			next = &v.Attempts[i+1]
		}
		if a.Reason != "" {
			st.Why = s.failoverReason(a, next, pol, m.Status)
		} else if a.Status == string(store.AttemptFailed) && next != nil && next.Channel == a.Channel {
			st.Retry = true
			st.Why = fmt.Sprintf("%s had a temporary problem (%s), so we tried it again.", st.Label, orText(a.Error, "no details"))
		}
		st.Events = []uiEvent{{"Started", &a.StartedAt}}
		if a.EndedAt != nil {
			st.Events = append(st.Events, uiEvent{"Ended", a.EndedAt})
		}
		if a.DeliveredAt != nil {
			name := "Delivered"
			if a.Status == string(store.AttemptRead) {
				name = "Delivered (then read)"
			}
			st.Events = append(st.Events, uiEvent{name, a.DeliveredAt})
		}
		if a.Late {
			d.Late = true
		}
		if a.Status == string(store.AttemptDelivered) || a.Status == string(store.AttemptRead) {
			d.Dups = append(d.Dups, st.Label)
		}
		d.Steps = append(d.Steps, st)
	}
	if len(d.Dups) < 2 {
		d.Dups = nil
	}
	for _, ch := range v.Route {
		d.Route = append(d.Route, uiRouteHop{Channel: ch, Label: s.channelLabel(ch), Used: used[ch], Took: ch == v.Channel && (v.Status == "delivered" || v.Status == "read")})
	}
	if v.Channel != "" {
		d.Delivered = s.channelLabel(v.Channel)
	}
	// Status callbacks to the business app, when the store keeps them.
	if cb, ok := s.deps.Store.(store.CallbackOutbox); ok {
		d.HasCBStore = true
		if d.Callbacks, err = cb.Callbacks(c.Request().Context(), m.ID); err != nil {
			s.log.Warn("dashboard: list callbacks", "err", err)
		}
	}
	page := s.page(c, "Message "+shortID(m.ID), "messages", &d)
	page.LiveURL = c.Request().URL.RequestURI()
	return s.render(c, http.StatusOK, "message", page)
}

// shortID is the end of an id: UUIDv7 ids start with their time, so
// messages of the same minute share a prefix but not an ending.
func shortID(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

func orText(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

var kindLabels = map[channels.Kind]string{
	channels.WhatsApp: "WhatsApp", channels.SMS: "SMS", channels.Email: "email", channels.Telegram: "Telegram",
}

// channelLabel names a channel as an agent knows it: its kind ("SMS"),
// with the configured name when that says more ("SMS (twilio-eu)").
func (s *dash) channelLabel(name string) string {
	l := s.deps.Dispatch.Router().Lane(name)
	if l == nil {
		return name
	}
	label := kindLabels[l.Kind]
	if label == "" {
		return name
	}
	if strings.EqualFold(name, string(l.Kind)) {
		return label
	}
	return label + " (" + name + ")"
}

func capFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// failoverReason says, for a support agent, why the route moved on from
// attempt a and what it did next.
func (s *dash) failoverReason(a AttemptView, next *AttemptView, pol *config.Policy, final store.Status) string {
	ch := capFirst(s.channelLabel(a.Channel))
	// "sim: recipient rejected (permanent)": the class is said in words.
	a.Error = strings.TrimSuffix(a.Error, " ("+a.ErrorClass+")")
	var within time.Duration
	if pol != nil {
		within = pol.ReceiptTimeout[a.Channel].D()
	}
	if within <= 0 && a.EndedAt != nil {
		within = a.EndedAt.Sub(a.StartedAt).Round(time.Second)
	}
	what := reason.Parse(a.Reason).Sentence(reason.Facts{Channel: ch, Error: a.Error, ErrorClass: a.ErrorClass,
		Skipped: a.Status == string(store.AttemptSkipped), Within: within})
	switch {
	case next != nil && next.Status == string(store.AttemptSkipped):
		return what + ", so we moved on to " + s.channelLabel(next.Channel) + "."
	case next != nil:
		return what + ", so we sent it by " + s.channelLabel(next.Channel) + "."
	case final == store.StatusFailed:
		return what + ", and no channel was left to try, so the message failed."
	case final.Final():
		return what + "."
	}
	return what + ", so we are moving on to the next channel."
}

// ---- channels ----

type uiChannelsData struct {
	Channels  []uiChannel
	Failovers []uiFailover
	Window    string
	NoStats   bool
	Error     string
}

type uiChannel struct {
	V     ChannelView
	Label string
	Stats uiStat
}

type uiStat struct {
	Calls, Accepted, Failed, Skipped, Delivered, Failovers int
	Rate                                                   string // "98%" or "—"
	P50, P95                                               string
}

type uiFailover struct {
	At        time.Time
	MessageID string
	Text      string
}

type uiChannelStats struct {
	at        time.Time
	byChannel map[string]uiStat
	failovers []uiFailover
}

// channelStats reads the last minutes' attempts from the store (shared by
// every instance, so the numbers are the gateway's, not this process's),
// cached for a few seconds so many open dashboards cost one query.
func (s *dash) channelStats(c *echo.Context) (*uiChannelStats, bool) {
	ra, ok := s.deps.Store.(store.RecentAttempts)
	if !ok {
		return nil, false
	}
	now := s.now()
	s.ui.statsMu.Lock()
	defer s.ui.statsMu.Unlock()
	if st := s.ui.stats; st != nil && now.Sub(st.at) < 5*time.Second && !now.Before(st.at) {
		return st, true
	}
	atts, err := ra.RecentAttempts(c.Request().Context(), now.Add(-3*uiStatsWindow), now.Add(-uiStatsWindow), 50000)
	if err != nil {
		s.log.Warn("dashboard: recent attempts", "err", err)
		return nil, false
	}
	st := &uiChannelStats{at: now, byChannel: map[string]uiStat{}}
	lat := map[string][]time.Duration{}
	for i, a := range atts {
		x := st.byChannel[a.Channel]
		switch a.Status {
		case store.AttemptSkipped:
			x.Skipped++
		case store.AttemptFailed:
			x.Calls++
			x.Failed++
		default:
			x.Calls++
			x.Accepted++
		}
		if !a.DeliveredAt.IsZero() {
			x.Delivered++
			lat[a.Channel] = append(lat[a.Channel], a.DeliveredAt.Sub(a.StartedAt))
		}
		if a.Reason.Failover() {
			x.Failovers++
			var next *AttemptView
			if i+1 < len(atts) && atts[i+1].MessageID == a.MessageID {
				n := attemptView(atts[i+1])
				next = &n
			}
			at := a.EndedAt
			if at.IsZero() {
				at = a.StartedAt
			}
			st.failovers = append(st.failovers, uiFailover{At: at.UTC(), MessageID: a.MessageID,
				Text: s.failoverReason(attemptView(a), next, nil, "")})
		}
		st.byChannel[a.Channel] = x
	}
	for ch, x := range st.byChannel {
		x.Rate = "—"
		if x.Calls > 0 {
			x.Rate = fmt.Sprintf("%.0f%%", 100*float64(x.Accepted)/float64(x.Calls))
		}
		x.P50, x.P95 = "—", "—"
		if ds := lat[ch]; len(ds) > 0 {
			slices.Sort(ds)
			x.P50 = roundDur(ds[len(ds)/2])
			x.P95 = roundDur(ds[min(len(ds)-1, len(ds)*95/100)])
		}
		st.byChannel[ch] = x
	}
	sort.Slice(st.failovers, func(i, j int) bool { return st.failovers[i].At.After(st.failovers[j].At) })
	if len(st.failovers) > 20 {
		st.failovers = st.failovers[:20]
	}
	s.ui.stats = st
	return st, true
}

func attemptView(a store.Attempt) AttemptView {
	return AttemptView{Seq: a.Seq, Channel: a.Channel, Status: string(a.Status), ProviderID: a.ProviderID,
		ErrorClass: a.ErrorClass, Error: a.Error, Info: a.Info, Reason: a.Reason.String(), Ambiguous: a.Ambiguous, Late: a.Late,
		StartedAt: a.StartedAt.UTC(), EndedAt: timePtr(a.EndedAt), DeliveredAt: timePtr(a.DeliveredAt)}
}

func roundDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func (s *dash) uiChannels(c *echo.Context) error {
	d := uiChannelsData{Window: "last " + uiStatsWindow.String(), Error: c.QueryParam("error")}
	d.Window = strings.TrimSuffix(d.Window, "0s")
	stats, ok := s.channelStats(c)
	d.NoStats = !ok
	for _, l := range s.deps.Dispatch.Router().Lanes() {
		ch := uiChannel{V: s.channelView(l), Label: s.channelLabel(l.Name)}
		if ok {
			ch.Stats = stats.byChannel[l.Name]
			if ch.Stats.Rate == "" {
				ch.Stats.Rate, ch.Stats.P50, ch.Stats.P95 = "—", "—", "—"
			}
		}
		d.Channels = append(d.Channels, ch)
	}
	if ok {
		d.Failovers = stats.failovers
	}
	page := s.page(c, "Channels", "channels", &d)
	page.LiveURL = "/ui/channels"
	return s.render(c, http.StatusOK, "channels", page)
}

func (s *dash) uiOverride(disable bool) echo.HandlerFunc {
	return func(c *echo.Context) error {
		name := c.Param("name")
		l := s.deps.Dispatch.Router().Lane(name)
		if l == nil {
			return s.uiError(c, http.StatusNotFound, "Not found", "No channel named "+name+" is configured.")
		}
		sess := uiSess(c)
		if disable {
			reason := strings.TrimSpace(c.FormValue("reason"))
			if reason == "" {
				return c.Redirect(http.StatusSeeOther, "/ui/channels?error="+url.QueryEscape("Say why you are disabling "+name+"."))
			}
			if len(reason) > 200 {
				reason = reason[:200]
			}
			// The same path as the API: stored first (so it survives a
			// restart and reaches every instance), then applied here.
			at := s.now()
			reason += " (" + sess.keyName + ", dashboard)"
			if err := s.saveOverride(c, l.Name, true, reason, sess.keyName, at); err != nil {
				return err
			}
			if err := s.deps.Health.DisableBy(l.Name, reason, sess.keyName, at); err != nil {
				return err
			}
			s.log.Warn("channel disabled by ops", "channel", l.Name, "reason", reason, "key", sess.keyName, "via", "dashboard")
		} else {
			if err := s.saveOverride(c, l.Name, false, "", sess.keyName, s.now()); err != nil {
				return err
			}
			if err := s.deps.Health.Enable(l.Name); err != nil {
				return err
			}
			s.log.Warn("channel enabled by ops", "channel", l.Name, "key", sess.keyName, "via", "dashboard")
		}
		return c.Redirect(http.StatusSeeOther, "/ui/channels")
	}
}

// ---- template helpers ----

var statusIcons = map[string]string{
	"queued": "◷", "sending": "↻", "sent": "↗", "delivered": "✓", "read": "✓✓", "failed": "✕", "expired": "◔",
	"skipped": "↷", "undelivered": "✕",
	"healthy": "✓", "degraded": "⚠", "down": "✕", "disabled": "⊘",
	"closed": "✓", "open": "✕", "half-open": "◐",
	"pending": "◷", "gave_up": "✕",
}

var statusTone = map[string]string{
	"queued": "wait", "sending": "wait", "sent": "wait", "delivered": "ok", "read": "ok", "failed": "bad", "expired": "bad",
	"skipped": "muted", "undelivered": "bad",
	"healthy": "ok", "degraded": "warn", "down": "bad", "disabled": "muted",
	"closed": "ok", "open": "bad", "half-open": "warn",
	"pending": "wait", "gave_up": "bad",
}

var uiFuncs = template.FuncMap{
	"icon":  func(s string) string { return orText(statusIcons[s], "•") },
	"tone":  func(s string) string { return orText(statusTone[s], "muted") },
	"words": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"utc": func(t any) string {
		switch t := t.(type) {
		case time.Time:
			return t.UTC().Format(time.RFC3339)
		case *time.Time:
			if t != nil {
				return t.UTC().Format(time.RFC3339)
			}
		}
		return ""
	},
	"utcText": func(t any) string {
		switch t := t.(type) {
		case time.Time:
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		case *time.Time:
			if t != nil {
				return t.UTC().Format("2006-01-02 15:04:05 UTC")
			}
		}
		return ""
	},
	"set": func(t any) bool {
		switch t := t.(type) {
		case time.Time:
			return !t.IsZero()
		case *time.Time:
			return t != nil && !t.IsZero()
		}
		return false
	},
	"short": shortID,
	"phone": pii.Phone,
	"asset": func(name string) string { return "/ui/static/" + name },
}
