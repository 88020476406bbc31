package channels

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
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

// WebhookPrefix is the API's route for provider callbacks: a provider's
// callbacks arrive at WebhookPrefix + provider, with the channel's name in
// the "channel" query parameter. The API registers its route from it and
// providers build their callback URLs with WebhookURL, so the path is
// written in this one place.
const WebhookPrefix = "/v1/webhooks/"

// WebhookProvider declares, at Register, that channels of the type receive
// provider callbacks at WebhookPrefix + provider. Several types may share a
// provider (Twilio's SMS and WhatsApp); the channel's WebhookReceiver then
// tells their callbacks apart by the channel query parameter.
func WebhookProvider(provider string) Option {
	if provider == "" || strings.ContainsAny(provider, "/?#") {
		panic("channels: bad webhook provider name " + strconv.Quote(provider))
	}
	return func(typ string) { // called under regMu
		webhooks[provider] = append(webhooks[provider], typ)
		sort.Strings(webhooks[provider])
	}
}

// WebhookTypes lists, sorted, the channel types that receive the callbacks
// of provider; none for a provider no type declared.
func WebhookTypes(provider string) []string {
	regMu.RLock()
	defer regMu.RUnlock()
	return slices.Clone(webhooks[provider])
}

// WebhookURL is the URL a provider calls back for the named channel:
// publicURL (server.public_url) plus the provider's webhook path, "" when
// there is no public URL.
func WebhookURL(publicURL, provider, channel string) string {
	if publicURL == "" {
		return ""
	}
	return strings.TrimRight(publicURL, "/") + WebhookPrefix + provider + "?channel=" + url.QueryEscape(channel)
}
