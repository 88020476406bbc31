package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/admission"
	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/pii"
	"github.com/switchboard-gw/switchboard/routing"
	"github.com/switchboard-gw/switchboard/store"
)

// The opt-out list: GET /v1/suppressions (read, admin) lists it, POST
// /v1/suppressions (admin) adds or replaces an entry, DELETE
// /v1/suppressions/{kind}/{address} (admin) removes one. Addresses are
// checked and normalised as a send's to fields are, so an entry always
// meets the messages it is meant to stop.

// maxSuppressionReason bounds an entry's reason (an admin's note).
const maxSuppressionReason = 200

// SuppressionView is one entry of the opt-out list.
type SuppressionView struct {
	Address   string    `json:"address"`
	Kind      string    `json:"kind"`
	Reason    string    `json:"reason,omitempty"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
}

// SuppressionList is a page of the opt-out list.
type SuppressionList struct {
	Suppressions []SuppressionView `json:"suppressions"`
	NextCursor   string            `json:"next_cursor,omitempty"`
}

// SuppressionRequest is the body of POST /v1/suppressions.
type SuppressionRequest struct {
	Address string `json:"address"`
	Kind    string `json:"kind"`
	Reason  string `json:"reason,omitempty"`
}

func suppressionView(sp store.Suppression) SuppressionView {
	return SuppressionView{Address: sp.Address, Kind: sp.Kind, Reason: sp.Reason, Source: string(sp.Source), CreatedAt: sp.CreatedAt.UTC()}
}

// suppressionKind checks a kind named by a request; mk makes the error.
func suppressionKind(kind string, mk func(code, field, format string, args ...any) *Error, field string) error {
	if kind == "" {
		return mk("missing_field", field, "%s is required: one of whatsapp, sms, email, telegram", field)
	}
	if _, err := channels.ParseKind(kind); err != nil {
		return mk("invalid_field", field, "unknown kind %q (want whatsapp, sms, email or telegram)", kind)
	}
	return nil
}

// suppressionAddress checks address for kind as a send's to field of that
// kind is checked, and returns it normalised (store.SuppressionAddress).
func suppressionAddress(kind, address string, mk func(code, field, format string, args ...any) *Error, field string) (string, error) {
	address = store.SuppressionAddress(kind, address)
	if address == "" {
		return "", mk("missing_field", field, "%s is required", field)
	}
	switch channels.Kind(kind) {
	case channels.SMS, channels.WhatsApp:
		if !e164.MatchString(address) {
			return "", mk("invalid_recipient", field, "%s must be an E.164 phone number for kind %s, like +15551234567", field, kind)
		}
		if _, err := admission.ParsePhone(field, address); err != nil {
			var ae *admission.Error
			if errors.As(err, &ae) {
				return "", mk("invalid_recipient", field, "%s", ae.Msg)
			}
			return "", err
		}
	case channels.Email:
		a, err := mail.ParseAddress(address)
		if err != nil || a.Address != address || !strings.Contains(address[strings.LastIndexByte(address, '@')+1:], ".") {
			return "", mk("invalid_recipient", field, "%s must be a plain email address for kind email, like ana@example.com", field)
		}
	case channels.Telegram:
		if !telegramID.MatchString(address) {
			return "", mk("invalid_recipient", field, "%s must be a numeric chat id or an @channel username for kind telegram", field)
		}
	}
	return address, nil
}

func (s *Server) listSuppressions(c *echo.Context) error {
	q := c.Request().URL.Query()
	p := store.SuppressionListParams{Kind: q.Get("kind"), Cursor: q.Get("cursor"), Limit: store.DefaultListLimit}
	if p.Kind != "" {
		if err := suppressionKind(p.Kind, badRequestQuery, "kind"); err != nil {
			return err
		}
	}
	if a := q.Get("address"); a != "" {
		if p.Kind != "" {
			addr, err := suppressionAddress(p.Kind, a, badRequestQuery, "address")
			if err != nil {
				return err
			}
			a = addr
		}
		p.Address = store.SuppressionAddress("", a)
	}
	var err error
	if p.Limit, err = queryLimit(q, p.Limit); err != nil {
		return err
	}
	page, err := s.deps.Store.ListSuppressions(c.Request().Context(), p)
	if err != nil {
		return listError(err, "suppressions")
	}
	out := SuppressionList{Suppressions: make([]SuppressionView, 0, len(page.Suppressions)), NextCursor: page.NextCursor}
	for _, sp := range page.Suppressions {
		out.Suppressions = append(out.Suppressions, suppressionView(sp))
	}
	return c.JSON(http.StatusOK, out)
}

// badRequestQuery is a query parameter's error: always 400 invalid_query.
func badRequestQuery(_, field, format string, args ...any) *Error {
	return badRequest("invalid_query", field, format, args...)
}

func (s *Server) addSuppression(c *echo.Context) error {
	data, err := readBody(c.Request(), 4<<10)
	if err != nil {
		return err
	}
	var req SuppressionRequest
	if err := decodeStrict(data, &req); err != nil {
		return err
	}
	if err := suppressionKind(req.Kind, unprocessable, "kind"); err != nil {
		return err
	}
	addr, err := suppressionAddress(req.Kind, req.Address, unprocessable, "address")
	if err != nil {
		return err
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if !utf8.ValidString(req.Reason) || strings.ContainsAny(req.Reason, "\r\n") || utf8.RuneCountInString(req.Reason) > maxSuppressionReason {
		return unprocessable("invalid_field", "reason", "reason must be one line of at most %d characters", maxSuppressionReason)
	}
	sp := store.Suppression{Address: addr, Kind: req.Kind, Reason: req.Reason, Source: store.SourceAPI, CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	if err := s.deps.Store.Suppress(c.Request().Context(), sp); err != nil {
		return fmt.Errorf("add suppression: %w", err)
	}
	key, _ := c.Get(ctxKeyName).(string)
	s.log.Info("recipient suppressed by an admin", "kind", sp.Kind, "address", pii.Address{Kind: sp.Kind, Value: sp.Address}, "key", key)
	s.suppressionChanged(sp.Kind, "added")
	return c.JSON(http.StatusCreated, suppressionView(sp))
}

func (s *Server) removeSuppression(c *echo.Context) error {
	kind := c.Param("kind")
	if err := suppressionKind(kind, badRequest, "kind"); err != nil {
		return err
	}
	// The address is one path segment, URL-escaped by the client; the
	// router leaves %-escapes in place.
	raw, err := url.PathUnescape(c.Param("address"))
	if err != nil {
		return badRequest("invalid_field", "address", "address must be URL-escaped")
	}
	addr, err := suppressionAddress(kind, raw, badRequest, "address")
	if err != nil {
		return err
	}
	removed, err := s.deps.Store.Unsuppress(c.Request().Context(), addr, kind)
	if err != nil {
		return fmt.Errorf("remove suppression: %w", err)
	}
	if !removed {
		return errorf(http.StatusNotFound, "not_found", "address", "%s is not suppressed on %s", pii.Address{Kind: kind, Value: addr}, kind)
	}
	key, _ := c.Get(ctxKeyName).(string)
	s.log.Info("suppression removed by an admin", "kind", kind, "address", pii.Address{Kind: kind, Value: addr}, "key", key)
	s.suppressionChanged(kind, "removed")
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) suppressionChanged(kind, action string) {
	if s.deps.SuppressionChanged != nil {
		s.deps.SuppressionChanged(kind, string(store.SourceAPI), action)
	}
}

// explainOptOuts marks the channels of an explanation the recipient opted
// out of, as the dispatcher would skip them.
func (s *Server) explainOptOuts(ctx context.Context, to store.Recipient, e *routing.Explanation) error {
	entries, err := s.deps.Store.SuppressionsFor(ctx, to)
	if err != nil {
		return fmt.Errorf("look up the recipient's opt-outs: %w", err)
	}
	e.WithOptOuts(entries)
	return nil
}
