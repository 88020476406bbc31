package whatsappcloud

import (
	"errors"
	"maps"
	"slices"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/senders"
)

// Per-country phone numbers. phone_number_ids, in place of
// phone_number_id, sends from the business phone number kept for the
// destination's country (a local number reads as local, and each number
// has its own messaging limits and quality rating):
//
//	phone_number_ids: {IN: "106540352242922", default: "106540352242923"}
//
// A destination whose country has no key uses "default"; without one the
// send fails as misconfigured naming the country (channels.ErrNoSender),
// which routing keeps out of the channel's breaker. The probe reads the
// default number (without one, the first by country code): it checks the
// token and Graph. Receipts for any of the numbers are this channel's.

// validateIDs checks phone_number_ids, used in place of phone_number_id.
func (o *Options) validateIDs() []problem {
	var ps []problem
	if o.PhoneNumberID != "" {
		ps = append(ps, problem{"phone_number_ids", errors.New(`set "phone_number_id" or "phone_number_ids", not both: phone_number_ids picks the number by the destination's country (give it a "default" for the others)`)})
	}
	if len(o.PhoneNumberIDs) == 0 {
		return append(ps, problem{"phone_number_ids", errors.New(`empty: map destination countries (and "default") to phone number ids, such as {IN: "106540352242922", default: "106540352242923"}`)})
	}
	for _, b := range senders.Map(o.PhoneNumberIDs).ValidateKeys() {
		ps = append(ps, problem{"phone_number_ids." + b.Key, errors.New(b.Msg)})
	}
	for _, key := range slices.Sorted(maps.Keys(o.PhoneNumberIDs)) {
		if !digitsRe.MatchString(o.PhoneNumberIDs[key]) {
			// Not quoted, as for phone_number_id.
			ps = append(ps, problem{"phone_number_ids." + key, errors.New("must be digits only: the Graph id from WhatsApp Manager > API Setup, not the phone number")})
		}
	}
	return ps
}

// probeID is the phone number id the probe reads: phone_number_id, else
// the default of phone_number_ids, else its first by country code.
func (o *Options) probeID() string {
	if o.PhoneNumberIDs == nil {
		return o.PhoneNumberID
	}
	if id, ok := o.PhoneNumberIDs[channels.DefaultSender]; ok {
		return id
	}
	keys := slices.Sorted(maps.Keys(o.PhoneNumberIDs))
	if len(keys) == 0 {
		return ""
	}
	return o.PhoneNumberIDs[keys[0]]
}

// CheckSender reports, without a Graph call, whether the channel has a
// phone number for a message to addr: nil, or the error a send would fail
// with (wrapping channels.ErrNoSender). Explanations use it.
func (c *Cloud) CheckSender(addr string) error {
	_, err := c.idFor(addr)
	return err
}

// idFor picks the phone number id for a message to addr.
func (c *Cloud) idFor(addr string) (string, error) {
	if c.opts.PhoneNumberIDs == nil {
		return c.opts.PhoneNumberID, nil
	}
	id, _, err := senders.Map(c.opts.PhoneNumberIDs).For(addr, "phone_number_ids")
	return id, err
}

// ownsID reports whether id is one of the channel's phone number ids.
func (c *Cloud) ownsID(id string) bool {
	if c.opts.PhoneNumberIDs == nil {
		return id == c.opts.PhoneNumberID
	}
	return slices.Contains(slices.Collect(maps.Values(c.opts.PhoneNumberIDs)), id)
}
