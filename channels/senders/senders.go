// Package senders picks a channel's sender by the destination's country:
// Twilio's senders, WhatsApp Cloud's phone_number_ids. It places numbers
// with package admission, which package channels cannot import.
package senders

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/switchboard-gw/switchboard/admission"
	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
)

// Map maps destination countries (ISO 3166 alpha-2, or "default") to
// a channel's sender for them.
type Map map[string]string

// BadKey is a key of a Map that is neither a country code nor "default".
type BadKey struct {
	Key, Msg string
}

// ValidateKeys returns the keys that are neither an ISO 3166 alpha-2 code
// (config.CountryCode) nor "default", in sorted order.
func (s Map) ValidateKeys() []BadKey {
	var bad []BadKey
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if k == channels.DefaultSender || config.CountryCode(k) {
			continue
		}
		msg := fmt.Sprintf("%q is not an ISO 3166 alpha-2 country code or %q", k, channels.DefaultSender)
		switch up := strings.ToUpper(strings.TrimSpace(k)); {
		case up == "UK":
			msg += `; the United Kingdom is "GB"`
		case up == "DEFAULT":
			msg += fmt.Sprintf("; write it %q", channels.DefaultSender)
		case config.CountryCode(up):
			msg += fmt.Sprintf("; write it in capitals: %q", up)
		}
		bad = append(bad, BadKey{k, msg})
	}
	return bad
}

// For picks the sender for a message to addr (an E.164 number): the one
// for addr's country, else the default. Without either the error is
// misconfigured and wraps a *NoSenderError (ErrNoSender); key names the
// option in it. The country is returned either way ("" if addr cannot be
// placed).
func (s Map) For(addr, key string) (sender, country string, err error) {
	country, _ = admission.CountryOf(strings.TrimPrefix(strings.TrimSpace(addr), "whatsapp:"))
	if v, ok := s[country]; ok && country != "" {
		return v, country, nil
	}
	if v, ok := s[channels.DefaultSender]; ok {
		return v, country, nil
	}
	return "", country, &channels.Error{Class: channels.Misconfigured, Err: &channels.NoSenderError{Country: country, Key: key}}
}
