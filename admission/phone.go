// Package admission holds the checks a send must pass before it is
// accepted that are about where it goes rather than how the request is
// written: whether its phone numbers are possible, and whether its policy
// sends to their country. They are pure functions of the recipient and the
// policy; the API calls them once per request (api.Server.accept).
package admission

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/nyaruka/phonenumbers"
	"google.golang.org/protobuf/proto"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/store"
)

// Error codes, as the API reports them.
const (
	CodeInvalidRecipient  = "invalid_recipient"
	CodeCountryNotAllowed = "country_not_allowed"
)

// ErrRefused is wrapped by every *Error.
var ErrRefused = errors.New("recipient refused")

// Error refuses one address of a recipient.
type Error struct {
	Code    string // CodeInvalidRecipient or CodeCountryNotAllowed
	Field   string // "to.phone" or "to.whatsapp"
	Country string // the number's country, when known
	Msg     string
}

func (e *Error) Error() string { return e.Field + ": " + e.Msg }
func (e *Error) Unwrap() error { return ErrRefused }

// Number is a phone number that is possible for its country.
type Number struct {
	E164        string
	CountryCode int
	num         *phonenumbers.PhoneNumber
}

// Country is the ISO 3166 alpha-2 code of the number's country. A number
// the metadata cannot place (an unassigned range, such as the test number
// +15551234567) counts as the main country of its calling code: +1 is US,
// +44 GB, +7 RU. Non-geographic calling codes (+800, +882, ...) give "001",
// which no allow list contains. Placing a number runs the metadata's
// patterns, so it is done only when a policy or explain asks.
func (n Number) Country() string {
	if r := phonenumbers.GetRegionCodeForNumber(n.num); r != "" && r != phonenumbers.UNKNOWN_REGION {
		return r
	}
	return phonenumbers.GetRegionCodeForCountryCode(n.CountryCode)
}

// ParsePhone parses an E.164 number (the API has checked its shape) and
// refuses one that is not possible for its country: a length no number of
// that calling code has (too short, too long), an unknown calling code, or
// a number only dialable locally. It does not ask whether the range is
// assigned (phonenumbers.IsValidNumber): test ranges such as +1555 must
// keep working. field names the address in errors.
func ParsePhone(field, e164 string) (Number, error) {
	num, ok := parseE164(e164)
	if !ok {
		// Messages do not repeat the number: apps log API errors.
		return Number{}, &Error{Code: CodeInvalidRecipient, Field: field, Msg: "not an E.164 phone number, like +15551234567"}
	}
	why := "its country calling code does not exist"
	if num.CountryCode != nil {
		why = possible(num)
	}
	if why == "" {
		return Number{E164: e164, CountryCode: int(num.GetCountryCode()), num: num}, nil
	}
	n := Number{CountryCode: int(num.GetCountryCode()), num: num}
	e := &Error{Code: CodeInvalidRecipient, Field: field, Msg: "not a possible phone number: " + why}
	if num.CountryCode != nil {
		e.Country = n.Country()
		e.Msg += " (" + e.Country + ")"
	}
	return Number{}, e
}

// possible says why num is not possible for its country, or "".
func possible(num *phonenumbers.PhoneNumber) string {
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.IS_POSSIBLE:
		return ""
	case phonenumbers.INVALID_COUNTRY_CODE:
		return "its country calling code does not exist"
	case phonenumbers.TOO_SHORT, phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		// Local-only: a length dialable only inside an area (a US number
		// without its area code), never from abroad.
		return "it is too short for its country"
	case phonenumbers.TOO_LONG:
		return "it is too long for its country"
	}
	return "no number of its country has that length" // INVALID_LENGTH: between two lengths its country uses
}

// parseE164 splits "+<calling code><national number>" without
// phonenumbers.Parse, which runs a dozen regular expressions meant for
// numbers as people write them (spaces, extensions, national prefixes) and
// costs tens of microseconds; an E.164 string needs none of that. Calling
// codes are prefix-free, so the first 1 to 3 digits that are a known code
// are the code. An unknown code gives a number without CountryCode.
func parseE164(s string) (*phonenumbers.PhoneNumber, bool) {
	if len(s) < 3 || len(s) > 18 || s[0] != '+' || s[1] == '0' {
		return nil, false
	}
	digits := s[1:]
	for _, c := range digits {
		if c < '0' || c > '9' {
			return nil, false
		}
	}
	for l := 1; l <= 3 && l < len(digits); l++ {
		cc, _ := strconv.Atoi(digits[:l])
		if len(phonenumbers.GetRegionCodesForCountryCode(cc)) == 0 {
			continue
		}
		national := digits[l:]
		if national[0] == '0' {
			// A leading 0 is a national prefix the library strips in
			// some countries (+44 07700…) and part of the number in
			// others (Italy's fixed lines): rare, so let Parse decide.
			num, err := phonenumbers.Parse(s, "")
			if err != nil {
				return &phonenumbers.PhoneNumber{CountryCode: proto.Int32(int32(cc)), NationalNumber: proto.Uint64(0)}, true
			}
			return num, true
		}
		nn, err := strconv.ParseUint(national, 10, 64)
		if err != nil {
			return nil, false
		}
		return &phonenumbers.PhoneNumber{CountryCode: proto.Int32(int32(cc)), NationalNumber: proto.Uint64(nn)}, true
	}
	return &phonenumbers.PhoneNumber{}, true
}

// Phones are a recipient's parsed phone numbers.
type Phones struct {
	Phone, WhatsApp *Number // nil when the recipient has none
}

// ParseRecipient parses the recipient's phone and whatsapp numbers, once
// when they are the same number.
func ParseRecipient(to store.Recipient) (Phones, error) {
	var p Phones
	if to.Phone != "" {
		n, err := ParsePhone("to.phone", to.Phone)
		if err != nil {
			return Phones{}, err
		}
		p.Phone = &n
	}
	if to.WhatsApp != "" {
		if p.Phone != nil && to.WhatsApp == to.Phone {
			p.WhatsApp = p.Phone
		} else {
			n, err := ParsePhone("to.whatsapp", to.WhatsApp)
			if err != nil {
				return Phones{}, err
			}
			p.WhatsApp = &n
		}
	}
	return p, nil
}

// Countries are the countries of a recipient's numbers, by field.
type Countries struct {
	Phone    string `json:"phone,omitempty"`
	WhatsApp string `json:"whatsapp,omitempty"`
}

// Countries places each number (once when they are the same number).
func (p Phones) Countries() Countries {
	var c Countries
	if p.Phone != nil {
		c.Phone = p.Phone.Country()
	}
	if p.WhatsApp != nil {
		if p.WhatsApp == p.Phone {
			c.WhatsApp = c.Phone
		} else {
			c.WhatsApp = p.WhatsApp.Country()
		}
	}
	return c
}

// CheckCountries refuses the first number in a country c (a policy's
// countries) does not send to; an empty c allows every country. A number
// is placed (Number.Country, tens of microseconds for +1's two dozen
// regions) only when its calling code's regions disagree about c: with
// deny [RU], no +1 number needs placing; with allow [US, GB], +1 numbers
// do (US or Canada?) and +49 numbers do not.
func (p Phones) CheckCountries(policy string, c config.Countries) error {
	if len(c.Allow) == 0 && len(c.Deny) == 0 {
		return nil
	}
	for _, f := range []struct {
		field string
		n     *Number
	}{{"to.phone", p.Phone}, {"to.whatsapp", p.WhatsApp}} {
		if f.n == nil || (f.field == "to.whatsapp" && f.n == p.Phone) {
			continue
		}
		if ok, country := f.n.allowedBy(c); !ok {
			return &Error{Code: CodeCountryNotAllowed, Field: f.field, Country: country,
				Msg: fmt.Sprintf("the number is in %s, where policy %q does not send", country, policy)}
		}
	}
	return nil
}

// allowedBy says whether c sends to n, and n's country when it refuses.
func (n *Number) allowedBy(c config.Countries) (bool, string) {
	regions := phonenumbers.GetRegionCodesForCountryCode(n.CountryCode)
	if len(regions) > 0 {
		verdict := Allowed(c, regions[0])
		same := true
		for _, r := range regions[1:] {
			if Allowed(c, r) != verdict {
				same = false
				break
			}
		}
		if same && verdict {
			return true, ""
		}
		if same && len(regions) == 1 {
			return false, regions[0]
		}
	}
	country := n.Country()
	return Allowed(c, country), country
}

// Allowed reports whether c lets a message go to country.
func Allowed(c config.Countries, country string) bool {
	if len(c.Allow) > 0 {
		return slices.Contains(c.Allow, country)
	}
	return !slices.Contains(c.Deny, country)
}
