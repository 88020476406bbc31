package admission

import (
	"github.com/nyaruka/phonenumbers"

	"github.com/switchboard-gw/switchboard/config"
)

// Destination is the country a policy's match.countries is judged on: the
// phone number's, else the whatsapp number's, with the field it was read
// from; "" when the recipient has neither.
func (p Phones) Destination() (country, field string) {
	switch {
	case p.Phone != nil:
		return p.Phone.Country(), "phone"
	case p.WhatsApp != nil:
		return p.WhatsApp.Country(), "whatsapp"
	}
	return "", ""
}

// MatchInput is what a policy's match is judged on for a message with
// these tags to these numbers; the numbers are placed only if a policy
// asks (config.MatchInput.Country).
func (p Phones) MatchInput(tags []string) *config.MatchInput {
	in := &config.MatchInput{Tags: tags}
	if p.Phone != nil || p.WhatsApp != nil {
		in.Country = p.Destination
		in.Regions = p.regions
	}
	return in
}

// regions are the countries the destination number's calling code serves.
func (p Phones) regions() []string {
	n := p.Phone
	if n == nil {
		n = p.WhatsApp
	}
	return phonenumbers.GetRegionCodesForCountryCode(n.CountryCode)
}

// CountryOf is the country of an E.164 address, as Number.Country places
// it; ok is false when addr is not a possible E.164 number. Channels use
// it to pick the sender for a destination.
func CountryOf(addr string) (country string, ok bool) {
	n, err := ParsePhone("to", addr)
	if err != nil {
		return "", false
	}
	return n.Country(), true
}
