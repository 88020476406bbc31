package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// InboundMessage is one message a person sent to one of the gateway's
// channels (a reply, a STOP), as the provider's webhook reported it.
type InboundMessage struct {
	ID      string // time-ordered (UUIDv7); empty on save: the store assigns one
	Channel string // the channel's name in the config
	Kind    string // the channel's kind (a channels.Kind): sms, whatsapp, telegram
	// From is the sender's address in the form the message's To fields
	// use for Kind (E.164 for sms and whatsapp, the chat id for telegram);
	// To the address it was sent to (the gateway's number or bot).
	From       string
	To         string
	Text       string
	ProviderID string // the provider's id for the inbound message; "" if it gave none
	// ReplyToProviderID is the provider's id of the outbound message this
	// one replies to, when the provider says; ReplyTo is the Switchboard
	// message that attempt belongs to, resolved on save through the
	// attempts' (Channel, ProviderID). Empty when unknown.
	ReplyToProviderID string
	ReplyTo           string
	ReceivedAt        time.Time
}

// InboundCallbackScope is the Callback.Scope of an inbound message's
// callback: inbound.callback_secret signs it. No API key has an empty
// name (config validation requires one), so it names none.
const InboundCallbackScope = ""

// InboundPayload is the JSON body of an inbound message's callback.
type InboundPayload struct {
	Type       string    `json:"type"` // always "inbound"
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

// InboundPayloadOf is the callback body that reports m.
func InboundPayloadOf(m *InboundMessage) InboundPayload {
	return InboundPayload{Type: "inbound", ID: m.ID, Channel: m.Channel, Kind: m.Kind, From: m.From, To: m.To,
		Text: m.Text, ProviderID: m.ProviderID, ReplyTo: m.ReplyTo, ReceivedAt: m.ReceivedAt.UTC()}
}

// InboundListParams filters and pages inbound messages, newest first.
type InboundListParams struct {
	Channel string
	From    string
	Since   time.Time // received at or after; zero: unbounded
	Limit   int       // default 50, max 500
	Cursor  string    // opaque; from a previous InboundListResult
}

// InboundListResult is one page.
type InboundListResult struct {
	Messages   []*InboundMessage
	NextCursor string // "" on the last page
}

// InboundStore keeps inbound messages.
type InboundStore interface {
	// SaveInbound stores m (ID and ReplyTo are set by the store; a zero
	// ReceivedAt is now) and, when callbackURL is not empty, queues its
	// callback in the outbox in the same transaction (Scope
	// InboundCallbackScope, Payload InboundPayloadOf the stored message,
	// MessageID the inbound message's id). A message whose (Channel,
	// ProviderID) is already stored is a provider's retry: nothing is
	// written and the stored one comes back with duplicate = true.
	SaveInbound(ctx context.Context, m *InboundMessage, callbackURL string) (stored *InboundMessage, duplicate bool, err error)
	// ListInbound returns a page of inbound messages, newest first.
	ListInbound(ctx context.Context, p InboundListParams) (InboundListResult, error)
}

// CheckInbound validates m before a store writes it.
func CheckInbound(m *InboundMessage) error {
	if m.Channel == "" || m.Kind == "" || m.From == "" {
		return errors.New("save inbound: channel, kind and from are required")
	}
	return nil
}

// InboundPage is ListPage for inbound messages.
func InboundPage(p InboundListParams) (limit int, after string, err error) {
	return ListPage(ListParams{Limit: p.Limit, Cursor: p.Cursor})
}

// InboundPageOf is PageOf for inbound messages read with one row more
// than the page holds.
func InboundPageOf(ms []*InboundMessage, limit int) InboundListResult {
	if len(ms) > limit {
		return InboundListResult{Messages: ms[:limit], NextCursor: Cursor(ms[limit-1].ID)}
	}
	return InboundListResult{Messages: ms}
}

// PrepareInbound is what a store saves for m: a copy with an id and a
// received time (microseconds, as PostgreSQL keeps), ReplyTo cleared for
// the store to resolve.
func PrepareInbound(m *InboundMessage) (*InboundMessage, error) {
	if err := CheckInbound(m); err != nil {
		return nil, err
	}
	n := *m
	n.ReplyTo = ""
	if n.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("generate inbound id: %w", err)
		}
		n.ID = id.String()
	}
	if n.ReceivedAt.IsZero() {
		n.ReceivedAt = time.Now()
	}
	n.ReceivedAt = n.ReceivedAt.UTC().Truncate(time.Microsecond)
	return &n, nil
}
