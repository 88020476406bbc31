package store

import (
	"context"
	"time"

	"github.com/switchboard-gw/switchboard/money"
)

// CostSource says where an attempt's cost came from.
type CostSource string

const (
	CostNone CostSource = ""
	// CostReported: the provider reported the price (Twilio's price and
	// price_unit), or that the message is free (WhatsApp Cloud's pricing
	// with billable false).
	CostReported CostSource = "reported"
	// CostDeclared: the channel's declared cost (config cost:), an estimate
	// until a reported price replaces it.
	CostDeclared CostSource = "declared"
)

// Cost is what one attempt cost. The zero value is no cost recorded.
type Cost struct {
	Micros   money.Micros
	Currency string // ISO 4217
	Source   CostSource
	// Detail is what the provider said about the price beyond the amount:
	// WhatsApp Cloud's pricing category, model and billable flag.
	Detail string
}

// IsZero reports whether no cost is recorded.
func (c Cost) IsZero() bool { return c.Source == CostNone }

// Spend is a channel's spend in one currency on one UTC day.
type Spend struct {
	Channel  string
	Day      string // UTC, "2006-01-02" (SpendDay)
	Currency string
	Micros   money.Micros
}

// SpendDay is the UTC day t counts toward, as Spend.Day writes it.
func SpendDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// SpendOf is what attempt a adds to its channel's spend: its cost, on the
// UTC day it started. ok is false when a has no cost.
func SpendOf(a *Attempt) (Spend, bool) {
	if a.Cost.IsZero() || a.Cost.Currency == "" {
		return Spend{}, false
	}
	return Spend{Channel: a.Channel, Day: SpendDay(a.StartedAt), Currency: a.Cost.Currency, Micros: a.Cost.Micros}, true
}

// SpendReader reads the spend counters. Both stores keep them in a table
// (channel, day, currency) that Advance and RecordReceipt update in the
// same transaction as the attempt whose cost they record, so every
// instance sharing a PostgreSQL store counts the same spend.
type SpendReader interface {
	// ChannelSpend returns every channel's spend on day (SpendDay), in no
	// particular order.
	ChannelSpend(ctx context.Context, day string) ([]Spend, error)
}

// DecideCost says whether a receipt's cost c replaces old, the cost the
// attempt has: a reported price replaces a declared estimate (or another
// reported price: the latest word), a declared cost never replaces a
// reported one. When it does, deltas are what the spend counters change by
// (the old amount taken out of its currency's row, the new one added), for
// an attempt that started at started on channel.
func DecideCost(old, c Cost, channel string, started time.Time) (replace bool, deltas []Spend) {
	if c.IsZero() || c.Currency == "" || (old.Source == CostReported && c.Source != CostReported) {
		return false, nil
	}
	if old == c {
		return false, nil
	}
	day := SpendDay(started)
	if !old.IsZero() && old.Currency != "" && old.Micros != 0 {
		deltas = append(deltas, Spend{Channel: channel, Day: day, Currency: old.Currency, Micros: -old.Micros})
	}
	if c.Micros != 0 {
		deltas = append(deltas, Spend{Channel: channel, Day: day, Currency: c.Currency, Micros: c.Micros})
	}
	return true, deltas
}
