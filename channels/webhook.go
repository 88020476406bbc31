package channels

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// ErrBadSignature: a provider callback failed its signature check. The API
// answers 403 and records nothing.
var ErrBadSignature = errors.New("webhook signature check failed")

// WebhookRequest is a provider callback as the API received it.
type WebhookRequest struct {
	Method string
	// URL is the public URL the provider called (server.public_url plus the
	// request's path and query): what Twilio signs.
	URL    string
	Header http.Header
	Query  url.Values
	Body   []byte
}

// WebhookResponse is what the API answers the provider.
type WebhookResponse struct {
	Status      int // default 200
	ContentType string
	Body        []byte
}

// WebhookReceiver is implemented by channels whose provider calls back with
// delivery reports (Twilio status callbacks, Meta webhooks). The API routes
// a callback to the channel named in its URL and passes the receipts on to
// the routing core.
type WebhookReceiver interface {
	// Webhook verifies and parses one callback. A failed signature check
	// returns an error wrapping ErrBadSignature; a malformed body any other
	// error (the API answers 400). Receipts carry this channel's name.
	Webhook(ctx context.Context, r *WebhookRequest) (WebhookResponse, []Receipt, error)
}
