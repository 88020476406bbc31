package api

import (
	"context"
	"log/slog"
	"net/http"
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
	var err error
	if p.Since, err = queryTime(q, "since"); err != nil {
		return err
	}
	if p.Limit, err = queryLimit(q, p.Limit); err != nil {
		return err
	}
	res, err := s.deps.Store.ListInbound(c.Request().Context(), p)
	if err != nil {
		return listError(err, "inbound")
	}
	out := InboundListResponse{Inbound: make([]InboundView, 0, len(res.Messages)), NextCursor: res.NextCursor}
	for _, m := range res.Messages {
		out.Inbound = append(out.Inbound, InboundView{ID: m.ID, Channel: m.Channel, Kind: m.Kind, From: m.From, To: m.To,
			Text: m.Text, ProviderID: m.ProviderID, ReplyTo: m.ReplyTo, ReceivedAt: m.ReceivedAt.UTC()})
	}
	return c.JSON(http.StatusOK, out)
}
