package twilio

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/senders"
)

// Per-country senders. Many countries require a particular kind of sender:
// a registered alphanumeric sender ID (India's DLT headers, much of
// Europe), a local number, or in the US a 10DLC number or toll-free
// number. senders maps the destination's country to its sender:
//
//	senders: {IN: "SWBOARD", US: "+15005550006", GB: "MG…", default: "+15005550006"}
//
// A value is an alphanumeric sender ID (1 to 11 letters, digits and
// spaces, at least one letter, as Twilio's docs define it; SMS only), an
// E.164 number ("whatsapp:+E164" or "+E164" for twilio-whatsapp), a short
// code (SMS), or a messaging service SID (MG + 32 hex), which is sent as
// MessagingServiceSid instead of From. The country is the number's, as a
// policy's countries see it (package admission). A destination whose
// country has no key uses "default"; without one, the send fails as
// misconfigured naming the country (channels.ErrNoSender), which routing
// keeps out of the channel's breaker.

// validateSenders checks senders, used in place of from and
// messaging_service_sid.
func (o *Options) validateSenders(k channels.Kind) []problem {
	var ps []problem
	if o.From != "" || o.MessagingServiceSID != "" {
		ps = append(ps, problem{"senders", `set "senders" or "from"/"messaging_service_sid", not both: senders picks the sender by the destination's country (give it a "default" for the others)`})
	}
	if len(o.Senders) == 0 {
		return append(ps, problem{"senders", `empty: map destination countries (and "default") to senders, such as {IN: "SWBOARD", default: "+15005550006"}`})
	}
	for _, b := range senders.Map(o.Senders).ValidateKeys() {
		ps = append(ps, problem{"senders." + b.Key, b.Msg})
	}
	for _, key := range slices.Sorted(maps.Keys(o.Senders)) {
		if _, err := normalizeSender(k, o.Senders[key]); err != nil {
			ps = append(ps, problem{"senders." + key, err.Error()})
		}
	}
	return ps
}

// normalizeSender returns a senders value as it is sent: a messaging
// service SID as it is, anything else as normalizeFrom makes it.
func normalizeSender(k channels.Kind, v string) (string, error) {
	if serviceSIDRe.MatchString(v) {
		return v, nil
	}
	if strings.HasPrefix(v, "MG") && len(v) > 11 {
		return "", fmt.Errorf("%q looks like a messaging service SID but is not MG followed by 32 hex digits", v)
	}
	from, err := normalizeFrom(k, v)
	if err != nil && k == channels.SMS {
		return "", fmt.Errorf("%q is not an alphanumeric sender ID (1 to 11 letters, digits and spaces, at least one letter), an E.164 number such as +14155552671, a short code or a messaging service SID (MG followed by 32 hex digits)", v)
	}
	return from, err
}

// sendAs is the sender of one message: From, or a messaging service.
type sendAs struct {
	from, service string
}

func (s sendAs) String() string {
	if s.from != "" {
		return s.from
	}
	return s.service
}

// CheckSender reports, without a provider call, whether the channel has a
// sender for a message to to: nil, or the error a send would fail with
// (wrapping channels.ErrNoSender). Explanations use it.
func (c *Channel) CheckSender(to string) error {
	to = strings.TrimSpace(to)
	if c.kind == channels.WhatsApp && !strings.HasPrefix(to, whatsappPrefix) {
		to = whatsappPrefix + to
	}
	_, err := c.senderFor(to)
	return err
}

// senderFor picks the sender for a message to to.
func (c *Channel) senderFor(to string) (sendAs, error) {
	if c.senders == nil {
		return sendAs{from: c.from, service: c.serviceSID}, nil
	}
	v, _, err := c.senders.For(to, "senders")
	if err != nil {
		return sendAs{}, err
	}
	if serviceSIDRe.MatchString(v) {
		return sendAs{service: v}, nil
	}
	return sendAs{from: v}, nil
}
