// Package inbound takes in the messages people send to the gateway's
// channels (replies, STOP): each is stored, its opt-out keyword applied to
// the suppression list, and the app's callback queued (inbound.callback_url,
// signed with inbound.callback_secret, delivered by the callback outbox
// like status callbacks). The channels parse their providers' webhooks
// into channels.Inbound; the API hands those to a Handler.
package inbound

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/pii"
	"github.com/switchboard-gw/switchboard/store"
)

// Message is one inbound message as stored: channel name, kind, the
// sender's address (From), the address it was sent to (To), the text, the
// provider's id, the outbound message it replies to (ReplyTo, when the
// provider says) and when it was received.
type Message = store.InboundMessage

// Suppressor is the part of the store that keeps the suppression list.
type Suppressor interface {
	// Suppress adds or replaces the entry for (Address, Kind).
	Suppress(ctx context.Context, s store.Suppression) error
	// Unsuppress removes the entry for (address, kind); removed is false
	// when there was none.
	Unsuppress(ctx context.Context, address, kind string) (removed bool, err error)
}

// Action is what an inbound message's text asks of the suppression list.
type Action string

const (
	None   Action = "none"    // an ordinary message
	OptOut Action = "opt_out" // STOP and its synonyms: suppress the sender
	OptIn  Action = "opt_in"  // START, UNSTOP: remove the suppression
)

// keywords are the opt-out and opt-in words carriers and Twilio honour,
// matched against the whole message.
var keywords = map[string]Action{
	"STOP": OptOut, "STOPALL": OptOut, "UNSUBSCRIBE": OptOut, "CANCEL": OptOut, "END": OptOut, "QUIT": OptOut,
	"START": OptIn, "UNSTOP": OptIn,
}

// Keyword reads an inbound text: the whole message, trimmed, in any case,
// must be one of the keywords ("stop", " Stop\n"; not "please stop").
// It returns the keyword in upper case and its action, or "" and None.
func Keyword(text string) (keyword string, a Action) {
	k := strings.ToUpper(strings.TrimSpace(text))
	if a, ok := keywords[k]; ok {
		return k, a
	}
	return "", None
}

// Observer counts inbound messages (metrics).
type Observer interface {
	Inbound(channel, action string)
}

// Handler implements channels.InboundSink.
type Handler struct {
	Store store.InboundStore
	// Suppressor applies keywords; nil: the store keeps no suppression
	// list and keywords are only stored and forwarded.
	Suppressor Suppressor
	// CallbackURL returns inbound.callback_url of the config in force
	// ("" : no callback).
	CallbackURL func() string
	// CallbackDue wakes the callback sender when a callback was queued.
	CallbackDue func()
	Logger      *slog.Logger
	Obs         Observer
}

var _ channels.InboundSink = (*Handler)(nil)

// Inbound stores in, applies its keyword and queues its callback. A
// provider's retry of a message already stored stores and queues nothing
// more, but applies the keyword again (the first try may have failed
// after the save); both are idempotent. An error means the provider
// should retry.
func (h *Handler) Inbound(ctx context.Context, kind channels.Kind, in channels.Inbound) error {
	url := ""
	if h.CallbackURL != nil {
		url = h.CallbackURL()
	}
	m, dup, err := h.Store.SaveInbound(ctx, &Message{
		Channel: in.Channel, Kind: string(kind), From: in.From, To: in.To, Text: in.Text,
		ProviderID: in.ProviderID, ReplyToProviderID: in.ReplyToProviderID, ReceivedAt: in.ReceivedAt,
	}, url)
	if err != nil {
		return fmt.Errorf("store inbound message on %s: %w", in.Channel, err)
	}
	keyword, action := Keyword(m.Text)
	if err := h.apply(ctx, m, keyword, action); err != nil {
		return err
	}
	log := h.logger()
	// The text is never logged: it is the customer's message.
	log.Info("inbound message", "id", m.ID, "channel", m.Channel, "from", mask(kind, m.From),
		"reply_to", m.ReplyTo, "action", string(action), "duplicate", dup, "callback", url != "" && !dup)
	if dup {
		return nil
	}
	if h.Obs != nil {
		h.Obs.Inbound(m.Channel, string(action))
	}
	if url != "" && h.CallbackDue != nil {
		h.CallbackDue()
	}
	return nil
}

// apply updates the suppression list for a keyword.
func (h *Handler) apply(ctx context.Context, m *Message, keyword string, a Action) error {
	if a == None {
		return nil
	}
	if h.Suppressor == nil {
		h.logger().Warn("opt-out keyword not applied: the store keeps no suppression list",
			"channel", m.Channel, "from", mask(channels.Kind(m.Kind), m.From), "action", string(a))
		return nil
	}
	switch a {
	case OptOut:
		err := h.Suppressor.Suppress(ctx, store.Suppression{Address: m.From, Kind: m.Kind, Reason: keyword,
			Source: store.SourceInbound, CreatedAt: m.ReceivedAt})
		if err != nil {
			return fmt.Errorf("suppress %s on %s: %w", mask(channels.Kind(m.Kind), m.From), m.Kind, err)
		}
	case OptIn:
		if _, err := h.Suppressor.Unsuppress(ctx, m.From, m.Kind); err != nil {
			return fmt.Errorf("unsuppress %s on %s: %w", mask(channels.Kind(m.Kind), m.From), m.Kind, err)
		}
	}
	return nil
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.Default()
	}
	return h.Logger
}

// mask hides an address for logs.
func mask(kind channels.Kind, addr string) string {
	switch kind {
	case channels.SMS, channels.WhatsApp:
		return pii.Phone(addr)
	case channels.Email:
		return pii.Email(addr)
	}
	return pii.ID(addr)
}
