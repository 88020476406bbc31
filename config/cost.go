package config

import (
	"github.com/switchboard-gw/switchboard/money"
)

// Cost declares what one message on a channel costs, for providers that
// report no price (SMTP, Telegram, sim) and as the estimate until a
// provider's reported price arrives (Twilio reports one on the message
// resource, which a reported price then replaces on the attempt). A
// message costs PerMessage plus PerSegment for each SMS segment (GSM-7 or
// UCS-2, as channels/twilio counts them; one for other kinds). PerCategory
// prices WhatsApp Cloud messages by the pricing category Meta reports in
// its status webhook (marketing, utility, authentication, service, ...):
// Meta reports the category but no amount, so the amount comes from here;
// a category not listed costs PerMessage.
//
// Amounts are exact decimals (see package money), at most six decimals.
type Cost struct {
	PerMessage  money.Micros            `yaml:"per_message"`
	PerSegment  money.Micros            `yaml:"per_segment"`
	PerCategory map[string]money.Micros `yaml:"per_category"`
	Currency    string                  `yaml:"currency"` // ISO 4217, required
}

// Message is the declared cost of one message of segments SMS segments
// (1 for a message that is not an SMS).
func (c *Cost) Message(segments int) money.Micros {
	if c == nil {
		return 0
	}
	return c.PerMessage + c.PerSegment.Mul(max(segments, 1))
}

// Budget caps what a channel spends per UTC day: once the day's recorded
// and declared cost in Currency reaches PerDay, the channel is skipped
// (reason budget) and routes move on. Costs in another currency do not
// count toward it (no exchange rates).
type Budget struct {
	PerDay   money.Micros `yaml:"per_day"`
	Currency string       `yaml:"currency"` // ISO 4217, required
}

// cost checks a channel's cost and budget.
func (v *checker) cost(p string, ch *Channel) {
	if c := ch.Cost; c != nil {
		k := p + ".cost"
		v.currency(k+".currency", c.Currency)
		v.nonNegative(k+".per_message", c.PerMessage)
		v.nonNegative(k+".per_segment", c.PerSegment)
		for _, cat := range sortedKeys(c.PerCategory) {
			v.nonNegative(k+".per_category."+cat, c.PerCategory[cat])
		}
	}
	if b := ch.Budget; b != nil {
		k := p + ".budget"
		v.currency(k+".currency", b.Currency)
		if b.PerDay <= 0 {
			v.errorf(k+".per_day", "must be greater than 0, got %s", b.PerDay)
		}
		if c := ch.Cost; c != nil && c.Currency != "" && b.Currency != "" && c.Currency != b.Currency {
			v.errorf(k+".currency", "%s differs from cost.currency %s: a budget counts only costs in its own currency", b.Currency, c.Currency)
		}
	}
}

func (v *checker) currency(key, code string) {
	if code == "" {
		v.errorf(key, "missing: give an ISO 4217 currency code, such as USD")
		return
	}
	if err := money.ValidCurrency(code); err != nil {
		v.errorf(key, "%v", err)
	}
}

func (v *checker) nonNegative(key string, m money.Micros) {
	if m < 0 {
		v.errorf(key, "must not be negative, got %s", m)
	}
}
