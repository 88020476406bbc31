package channels

import "github.com/switchboard-gw/switchboard/money"

// Price is what a provider said a message cost, in its send answer or a
// status webhook. Providers say different things: Twilio an amount and a
// currency (price, price_unit), WhatsApp Cloud only whether the message is
// billable and its pricing category, no amount. Routing turns a Price into
// the attempt's cost: an amount is a reported cost; a category is priced
// from the channel's declared cost (cost.per_category), as a declared one.
type Price struct {
	// HasAmount: Micros and Currency are the provider's reported price.
	HasAmount bool
	Micros    money.Micros // Twilio reports charges as negative amounts; this is the charge, positive
	Currency  string       // ISO 4217, upper case

	// Free: the provider said the message is not billed (WhatsApp
	// Cloud's billable: false).
	Free bool
	// Category is WhatsApp Cloud's pricing category (marketing, utility,
	// authentication, service, ...), when it reports one.
	Category string
	// Detail is what the provider said, for the attempt: "category=utility
	// pricing_model=PMP billable=true".
	Detail string
}
