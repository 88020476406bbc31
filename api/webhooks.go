package api

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/routing"
)

// maxWebhookBody bounds a provider callback; Twilio and Meta send a few KiB.
const maxWebhookBody = 256 << 10

// webhook receives a provider's delivery reports. It takes no API key: the
// provider's signature, checked by the channel, is the authentication.
func (s *Server) webhook(c *echo.Context) error {
	provider := c.Param("provider")
	// The channel types that receive this provider's callbacks declared
	// so at channels.Register (channels.WebhookProvider).
	types := channels.WebhookTypes(provider)
	if len(types) == 0 {
		return errorf(http.StatusNotFound, "not_found", "provider", "no webhook for provider %q", provider)
	}
	lane, err := s.webhookLane(c, provider, types)
	if err != nil {
		return err
	}
	recv, ok := lane.Channel.(channels.WebhookReceiver)
	if !ok {
		return errorf(http.StatusNotFound, "not_found", "channel", "channel %q does not take webhooks", lane.Name)
	}
	r := c.Request()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil {
		return badRequest("invalid_body", "", "could not read the request body")
	}
	if len(body) > maxWebhookBody {
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large", "", "webhook body is larger than %d bytes", maxWebhookBody)
	}
	wr := &channels.WebhookRequest{Method: r.Method, URL: s.publicURL(r), Header: r.Header, Query: r.URL.Query(), Body: body}
	var (
		resp     channels.WebhookResponse
		receipts []channels.Receipt
		inbound  []channels.Inbound
	)
	// A channel whose provider also reports messages people sent
	// (replies, STOP) parses both from the same signed callback.
	if ir, ok := recv.(channels.InboundReceiver); ok {
		resp, receipts, inbound, err = ir.WebhookInbound(r.Context(), wr)
	} else {
		resp, receipts, err = recv.Webhook(r.Context(), wr)
	}
	if errors.Is(err, channels.ErrBadSignature) {
		s.log.Warn("webhook signature check failed", "provider", provider, "channel", lane.Name, "remote", c.RealIP())
		return errorf(http.StatusForbidden, "bad_signature", "", "signature check failed")
	}
	if err != nil {
		return badRequest("bad_webhook", "", "%s", err.Error())
	}
	for _, rc := range receipts {
		if err := s.deps.Receipts.Receipt(r.Context(), rc); err != nil {
			// Answer 5xx so the provider retries the callback later.
			// During a database outage every webhook fails: one line per
			// interval, with how many.
			s.receiptLog.Log(s.log, slog.LevelError, "apply receipt", "channel", rc.Channel, "provider_id", rc.ProviderID, "err", err)
			return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "could not record the receipt; retry", RetryAfter: 5, cause: err}
		}
	}
	if err := s.takeInbound(r.Context(), lane.Channel.Kind(), inbound); err != nil {
		return err
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	ct := resp.ContentType
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	return c.Blob(status, ct, resp.Body)
}

// webhookLane finds the channel a callback is for: ?channel=NAME, or the
// only channel of the provider's types.
func (s *Server) webhookLane(c *echo.Context, provider string, types []string) (*routing.Lane, error) {
	router := s.deps.Dispatch.Router()
	if name := c.QueryParam("channel"); name != "" {
		l := router.Lane(name)
		if l == nil || !slices.Contains(types, l.Config.Type) {
			return nil, errorf(http.StatusNotFound, "unknown_channel", "channel", "no %s channel named %q", provider, name)
		}
		return l, nil
	}
	var found *routing.Lane
	for _, l := range router.Lanes() {
		if slices.Contains(types, l.Config.Type) {
			if found != nil {
				return nil, badRequest("missing_field", "channel", "several %s channels are configured: add ?channel=NAME to the webhook URL", provider)
			}
			found = l
		}
	}
	if found == nil {
		return nil, errorf(http.StatusNotFound, "unknown_channel", "channel", "no %s channel is configured", provider)
	}
	return found, nil
}

// publicURL is the URL the provider called, which is what it signed:
// server.public_url when set (the gateway usually sits behind a proxy),
// else what the request says.
func (s *Server) publicURL(r *http.Request) string {
	if base := strings.TrimRight(s.deps.Config.Server.PublicURL, "/"); base != "" {
		return base + r.URL.RequestURI()
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}
