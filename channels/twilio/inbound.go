package twilio

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
)

var _ channels.InboundReceiver = (*Channel)(nil)

// emptyTwiML answers an incoming message webhook without replying: the
// app replies, if it wants to, through the API.
var emptyTwiML = []byte(`<?xml version="1.0" encoding="UTF-8"?><Response></Response>`)

// WebhookInbound takes both of Twilio's callbacks at the channel's webhook
// URL: status callbacks (they carry MessageStatus) become receipts, and the
// incoming message webhook (From, To, Body, MessageSid; for WhatsApp also
// WaId, ProfileName and, on a reply, OriginalRepliedMessageSid) becomes an
// inbound message, answered with empty TwiML. Both are signed alike.
func (c *Channel) WebhookInbound(_ context.Context, r *channels.WebhookRequest) (channels.WebhookResponse, []channels.Receipt, []channels.Inbound, error) {
	form, err := c.verifiedForm(r, "callback")
	if err != nil {
		return channels.WebhookResponse{}, nil, nil, err
	}
	if form.Get("MessageStatus") != "" || !form.Has("Body") {
		resp, rs, err := c.receipts(form)
		return resp, rs, nil, err
	}
	in, err := c.inbound(form)
	if err != nil {
		return channels.WebhookResponse{}, nil, nil, err
	}
	resp := channels.WebhookResponse{Status: http.StatusOK, ContentType: "text/xml; charset=utf-8", Body: emptyTwiML}
	return resp, nil, []channels.Inbound{in}, nil
}

// inbound reads a verified incoming message webhook.
func (c *Channel) inbound(form url.Values) (channels.Inbound, error) {
	sid := form.Get("MessageSid")
	if sid == "" {
		sid = form.Get("SmsMessageSid") // the older name of the same field
	}
	from := address(form.Get("From"))
	if sid == "" || from == "" {
		return channels.Inbound{}, fmt.Errorf("twilio: incoming message: MessageSid and From are required")
	}
	return channels.Inbound{
		Channel:           c.name,
		From:              from,
		To:                address(form.Get("To")),
		Text:              form.Get("Body"),
		ProviderID:        sid,
		ReplyToProviderID: form.Get("OriginalRepliedMessageSid"),
		ReceivedAt:        time.Now().UTC(),
	}, nil
}

// address drops the channel prefix Twilio puts on WhatsApp addresses
// ("whatsapp:+15551234567"), leaving the E.164 number.
func address(s string) string {
	if _, rest, ok := strings.Cut(s, ":"); ok && strings.HasPrefix(rest, "+") {
		return rest
	}
	return s
}
