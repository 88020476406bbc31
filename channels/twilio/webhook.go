package twilio

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
)

// SignatureHeader carries Twilio's signature of a callback.
const SignatureHeader = "X-Twilio-Signature"

// receiptStatus maps Twilio's MessageStatus to a receipt. Statuses before
// the carrier hand-off (queued, accepted, scheduled, sending) say nothing
// routing needs, so they have no entry and produce no receipt.
var receiptStatus = map[string]channels.ReceiptStatus{
	"sent":        channels.ReceiptSent,
	"delivered":   channels.ReceiptDelivered,
	"read":        channels.ReceiptRead,
	"undelivered": channels.ReceiptUndelivered,
	"failed":      channels.ReceiptFailed,
}

// Webhook verifies and parses one status callback. Twilio signs the full
// URL it called plus the POSTed form parameters, sorted by name, with
// HMAC-SHA1 keyed by the auth token: r.URL must be that public URL, which
// the API rebuilds from server.public_url.
func (c *Channel) Webhook(_ context.Context, r *channels.WebhookRequest) (channels.WebhookResponse, []channels.Receipt, error) {
	form, err := c.verifiedForm(r, "status callback")
	if err != nil {
		return channels.WebhookResponse{}, nil, err
	}
	return c.receipts(form)
}

// verifiedForm checks a callback's X-Twilio-Signature and returns its form.
func (c *Channel) verifiedForm(r *channels.WebhookRequest, what string) (url.Values, error) {
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		return nil, fmt.Errorf("twilio: %s: no %s header: %w", what, SignatureHeader, channels.ErrBadSignature)
	}
	form, err := url.ParseQuery(string(r.Body))
	if err != nil {
		return nil, fmt.Errorf("twilio: %s: malformed form body: %w", what, err)
	}
	// Twilio never repeats a parameter in a callback; the first value is
	// both what is signed here and what is read.
	params := make(map[string]string, len(form))
	for k, v := range form {
		params[k] = v[0]
	}
	if !c.validator.Validate(r.URL, params, sig) {
		return nil, fmt.Errorf("twilio: %s: %s does not match the URL and parameters: %w", what, SignatureHeader, channels.ErrBadSignature)
	}
	return form, nil
}

// receipts reads a verified status callback.
func (c *Channel) receipts(form url.Values) (channels.WebhookResponse, []channels.Receipt, error) {
	ok := channels.WebhookResponse{Status: http.StatusOK}
	status := form.Get("MessageStatus")
	rs, known := receiptStatus[status]
	if !known {
		if status == "" {
			return channels.WebhookResponse{}, nil, fmt.Errorf("twilio: status callback: no MessageStatus")
		}
		c.log.Debug("twilio status callback ignored", "channel", c.name, "status", status, "sid", form.Get("MessageSid"))
		return ok, nil, nil
	}
	sid := form.Get("MessageSid")
	if sid == "" {
		sid = form.Get("SmsSid") // the older name of the same field
	}
	if sid == "" {
		return channels.WebhookResponse{}, nil, fmt.Errorf("twilio: status callback: %s without MessageSid", status)
	}
	rec := channels.Receipt{
		Channel:    c.name,
		ProviderID: sid,
		Status:     rs,
		At:         time.Now().UTC(),
	}
	code, text := form.Get("ErrorCode"), form.Get("ErrorMessage")
	switch {
	case rs != channels.ReceiptUndelivered && rs != channels.ReceiptFailed:
	case code != "" && text != "":
		rec.Error = code + " " + text
	case code != "":
		rec.Error = code
	default:
		rec.Error = text
	}
	return ok, []channels.Receipt{rec}, nil
}
