package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/store"
)

// Inbound messages: what people send to the channels (replies, STOP),
// taken from provider webhooks (api/webhooks.go) and listed by
// GET /v1/inbound.

func (s *Server) registerInbound(v1 *echo.Group) {
	v1.GET("/inbound", s.listInbound, s.keys.requireRole(config.RoleRead, config.RoleAdmin))
}

// takeInbound hands a webhook's inbound messages to the inbound sink. A
// failure answers 503 so the provider retries the webhook; the sink
// recognises a retried message by its provider id.
func (s *Server) takeInbound(ctx context.Context, kind channels.Kind, msgs []channels.Inbound) error {
	if len(msgs) == 0 {
		return nil
	}
	if s.deps.Inbound == nil {
		s.log.Warn("inbound messages dropped: no inbound handler", "messages", len(msgs))
		return nil
	}
	for _, in := range msgs {
		if err := s.deps.Inbound.Inbound(ctx, kind, in); err != nil {
			// No provider id: Telegram's holds the chat id.
			s.receiptLog.Log(s.log, slog.LevelError, "record inbound message", "channel", in.Channel, "err", err)
			return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "could not record the inbound message; retry", RetryAfter: 5, cause: err}
		}
	}
	return nil
}

// InboundView is an inbound message as the API shows it (GET /v1/inbound)
// and as its callback reports it.
type InboundView struct {
	ID         string    `json:"id"`
	Channel    string    `json:"channel"`
	Kind       string    `json:"kind"`
	From       string    `json:"from"`
	To         string    `json:"to,omitempty"`
	Text       string    `json:"text"`
	ProviderID string    `json:"provider_id,omitempty"`
	ReplyTo    string    `json:"reply_to,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}

// InboundListResponse is one page of GET /v1/inbound.
type InboundListResponse struct {
	Inbound    []InboundView `json:"inbound"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

func (s *Server) listInbound(c *echo.Context) error {
	q := c.Request().URL.Query()
	p := store.InboundListParams{
		Channel: q.Get("channel"),
		From:    strings.TrimPrefix(q.Get("from"), "whatsapp:"),
		Cursor:  q.Get("cursor"),
		Limit:   50,
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return badRequest("invalid_query", "since", "since must be an RFC 3339 time, such as 2026-11-23T18:00:00Z")
		}
		p.Since = t
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			return badRequest("invalid_query", "limit", "limit must be a number from 1 to 500")
		}
		p.Limit = n
	}
	res, err := s.deps.Store.ListInbound(c.Request().Context(), p)
	if err != nil {
		if errors.Is(err, store.ErrInvalidCursor) {
			return badRequest("invalid_query", "cursor", "cursor is not one this server returned")
		}
		return fmt.Errorf("list inbound: %w", err)
	}
	out := InboundListResponse{Inbound: make([]InboundView, 0, len(res.Messages)), NextCursor: res.NextCursor}
	for _, m := range res.Messages {
		out.Inbound = append(out.Inbound, InboundView{ID: m.ID, Channel: m.Channel, Kind: m.Kind, From: m.From, To: m.To,
			Text: m.Text, ProviderID: m.ProviderID, ReplyTo: m.ReplyTo, ReceivedAt: m.ReceivedAt.UTC()})
	}
	return c.JSON(http.StatusOK, out)
}
