package ui

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/pii"
)

type uiAsset struct {
	body  []byte
	etag  string
	ctype string
}

func newUIState() *uiState {
	u := &uiState{tmpl: map[string]*template.Template{}, static: map[string]uiAsset{}}
	for _, page := range []string{"login", "messages", "message", "channels", "error"} {
		u.tmpl[page] = template.Must(template.New("layout.html").Funcs(uiFuncs).ParseFS(uiFiles,
			"templates/layout.html", "templates/"+page+".html"))
	}
	err := fs.WalkDir(uiFiles, "static", func(p string, d fs.DirEntry, err error) error {
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

// ---- template helpers ----

var statusIcons = map[string]string{
	"queued": "◷", "sending": "↻", "sent": "↗", "delivered": "✓", "read": "✓✓", "failed": "✕", "expired": "◔",
	"skipped": "↷", "undelivered": "✕", "scheduled": "◴", "canceled": "⊘",
	"healthy": "✓", "degraded": "⚠", "down": "✕", "disabled": "⊘",
	"closed": "✓", "open": "✕", "half-open": "◐",
	"pending": "◷", "gave_up": "✕",
}

var statusTone = map[string]string{
	"queued": "wait", "sending": "wait", "sent": "wait", "delivered": "ok", "read": "ok", "failed": "bad", "expired": "bad",
	"skipped": "muted", "undelivered": "bad", "scheduled": "wait", "canceled": "muted",
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
