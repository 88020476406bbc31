package channels

import (
	"context"
	"time"
)

// Inbound is one message a person sent to a channel (a reply, a STOP), as
// its provider's webhook reported it.
type Inbound struct {
	Channel string
	// From is the sender's address in the form the message's To fields
	// use for the channel's kind: E.164 for sms and whatsapp (without
	// Twilio's "whatsapp:" prefix), the chat id for telegram. To is the
	// address it was sent to (the channel's number or bot).
	From string
	To   string
	Text string
	// ProviderID is the provider's id for the inbound message; a retried
	// webhook carries the same one, so it is stored once.
	ProviderID string
	// ReplyToProviderID is the provider's id of the outbound message
	// this one replies to, when the provider says (the ProviderID the
	// channel's Send returned); "" otherwise.
	ReplyToProviderID string
	ReceivedAt        time.Time
}

// InboundReceiver is a WebhookReceiver whose provider's callbacks may
// also carry messages people sent. The API calls WebhookInbound in place
// of Webhook, with the same signature rules: a failed check returns an
// error wrapping ErrBadSignature and nothing is recorded.
type InboundReceiver interface {
	WebhookReceiver
	WebhookInbound(ctx context.Context, r *WebhookRequest) (WebhookResponse, []Receipt, []Inbound, error)
}

// InboundSink takes inbound messages into the gateway (package inbound):
// it stores them, applies opt-out keywords and queues the app's callback.
// An error means nothing may have been recorded: the API answers 5xx so
// the provider retries.
type InboundSink interface {
	Inbound(ctx context.Context, kind Kind, in Inbound) error
}
