// Package channels defines what a messaging channel is: one provider account
// (Twilio SMS, SMTP, Telegram, a simulator) that can make exactly one delivery
// attempt for one message and say, by the class of its error, what should
// happen next. Retries, breakers and failover live in package routing.
package channels

import (
	"context"
	"fmt"
	"time"
)

// Kind is the address family a channel delivers to. A message carries at most
// one address per kind; a channel whose kind has no address is skipped.
type Kind string

const (
	SMS      Kind = "sms"
	WhatsApp Kind = "whatsapp"
	Email    Kind = "email"
	Telegram Kind = "telegram"
)

// Kinds lists every kind in a stable order.
var Kinds = []Kind{WhatsApp, SMS, Email, Telegram}

// ParseKind validates a kind named in config.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown kind %q (want one of whatsapp, sms, email, telegram)", s)
}

// Message is what a channel needs to make one attempt.
type Message struct {
	ID       string // Switchboard's message id; providers may echo it back
	To       string // the recipient's address for this channel's kind
	Body     string
	Subject  string // email only
	HTML     string // email only: optional HTML alternative to Body
	Metadata map[string]string
}

// Result is what a provider said when it accepted a message.
type Result struct {
	// ProviderID is the provider's id for the message (Twilio SID, SMTP
	// Message-ID, Telegram message id); receipts are matched on it.
	ProviderID string
	// Info is a short human note stored on the attempt, e.g. "2 segments, GSM-7".
	Info string
	// Delivered is true when acceptance already means delivery (SMTP handoff
	// to a server with no receipts is not that; a sync API that confirms is).
	Delivered bool
	// Price, if the provider's answer carried one (see price.go).
	Price *Price
	// Segments is how many SMS segments the message went as (0: unknown),
	// for a declared cost per segment.
	Segments int
	// Sender is the sender the attempt used (a From number or sender ID,
	// a messaging service SID, a WhatsApp phone number id), stored on the
	// attempt. A channel that picks its sender by the destination's
	// country returns it with its error too, once it has picked one.
	Sender string
}

// Channel is one configured provider account.
type Channel interface {
	Name() string // the name in the YAML, e.g. "whatsapp"
	Kind() Kind
	// Send makes exactly one attempt. Errors should be *Error so routing
	// can tell transient from permanent; an unclassified error is transient.
	Send(ctx context.Context, m *Message) (Result, error)
	// Probe is a cheap live check that sends no message.
	Probe(ctx context.Context) error
}

// Closer is implemented by channels that hold resources (connections,
// goroutines) that must be released when the channel is replaced or the
// gateway stops.
type Closer interface {
	Close() error
}

// ReceiptStatus is a provider's delivery report for one accepted message.
type ReceiptStatus string

const (
	ReceiptSent        ReceiptStatus = "sent"
	ReceiptDelivered   ReceiptStatus = "delivered"
	ReceiptRead        ReceiptStatus = "read"
	ReceiptUndelivered ReceiptStatus = "undelivered"
	ReceiptFailed      ReceiptStatus = "failed"
)

// Receipt is an asynchronous delivery report from a provider.
type Receipt struct {
	Channel    string
	ProviderID string
	Status     ReceiptStatus
	At         time.Time
	Error      string // provider's error text for undelivered/failed
	// Price, if the report carried one (see price.go).
	Price *Price
}

// ReceiptSink takes delivery reports from channels (the sim channel, or a
// webhook handler) into the routing core.
type ReceiptSink interface {
	Receipt(ctx context.Context, r Receipt) error
}
