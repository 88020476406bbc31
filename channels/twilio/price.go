package twilio

import (
	"fmt"
	"strings"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/money"
)

// Where Twilio's price comes from. The message resource carries price and
// price_unit ("-0.00750", "USD": a charge, written negative), but Twilio
// fills them in some time after the message is sent: the create response
// almost always has price null. The status callback's documented
// parameters (MessageSid, MessageStatus, ErrorCode, ...) do not include a
// price either. So Switchboard reads a price wherever Twilio gives one
// without another API call: the create response when it is there, and a
// Price/PriceUnit pair on a status callback when one comes. Until then the
// attempt carries the channel's declared cost (cost: per_segment), the
// estimate a budget counts. Fetching each message again later to read its
// settled price would be one more Twilio API call per message; it is not
// done (see README, "Cost and budgets").

// parsePrice reads Twilio's price and price_unit. Empty price: none yet
// (nil, nil). The charge comes back positive.
func parsePrice(price, unit string) (*channels.Price, error) {
	price = strings.TrimSpace(price)
	if price == "" {
		return nil, nil
	}
	m, err := money.Parse(price)
	if err != nil {
		return nil, fmt.Errorf("twilio: price %q: %w", price, err)
	}
	unit = strings.ToUpper(strings.TrimSpace(unit))
	if err := money.ValidCurrency(unit); err != nil {
		return nil, fmt.Errorf("twilio: price_unit: %w", err)
	}
	if m < 0 {
		m = -m
	}
	return &channels.Price{HasAmount: true, Micros: m, Currency: unit, Detail: "twilio price " + price + " " + unit}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
