package api

import (
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/switchboard-gw/switchboard/admission"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/routing"
	"github.com/switchboard-gw/switchboard/store"
)

// The admission checks of a send, in the order accept runs them: the
// phone numbers must be possible (every send), the policy must send to
// their country (policies with countries), and the recipient must be under
// the policy's per-recipient limit (checked by the store inside Enqueue,
// so concurrent sends cannot overshoot it).

// parsePhones parses the recipient's phone and whatsapp numbers once for
// the request and refuses impossible ones (422 invalid_recipient).
func parsePhones(to store.Recipient) (admission.Phones, error) {
	p, err := admission.ParseRecipient(to)
	if err != nil {
		return admission.Phones{}, admissionError(err)
	}
	return p, nil
}

// checkCountries refuses a number in a country pol does not send to (422
// country_not_allowed). Numbers are placed only when pol has countries,
// and only when their calling code's regions disagree about them.
func checkCountries(pol *config.Policy, phones admission.Phones) error {
	return admissionError(phones.CheckCountries(pol.Name, pol.Countries))
}

func admissionError(err error) error {
	var e *admission.Error
	if !errors.As(err, &e) {
		return err
	}
	if e.Code == admission.CodeCountryNotAllowed {
		return unprocessable("country_not_allowed", e.Field, "%s", e.Msg)
	}
	return unprocessable("invalid_recipient", e.Field, "%s", e.Msg)
}

// recipientLimit is what Enqueue is asked to enforce for a message
// accepted now under pol; nil when pol has no per-recipient limit.
func recipientLimit(pol *config.Policy, now time.Time) *store.RecipientLimit {
	r := pol.Limits.PerRecipient
	if r.N <= 0 || r.Per <= 0 {
		return nil
	}
	return &store.RecipientLimit{Max: int(r.N), Since: now.Add(-r.Per)}
}

// recipientLimited is the 429 for a send the store refused at the limit.
// Retry-After is when the oldest counted message leaves the window, so a
// retry then fits (unless another send took the slot first).
func recipientLimited(le *store.RecipientLimitError, pol *config.Policy, now time.Time) *Error {
	window := pol.Limits.PerRecipient.Per
	wait := window
	if !le.Oldest.IsZero() {
		wait = le.Oldest.Add(window).Sub(now)
	}
	e := errorf(http.StatusTooManyRequests, "recipient_rate_limited", "to",
		"this recipient has had %d messages under policy %q in the last %s, its limit (limits.per_recipient %s); retry later",
		le.Count, pol.Name, fmtWindow(window), rateString(pol.Limits.PerRecipient))
	e.RetryAfter = max(1, int(math.Ceil(wait.Seconds())))
	return e
}

func fmtWindow(d time.Duration) string {
	switch d {
	case time.Hour:
		return "hour"
	case time.Minute:
		return "minute"
	case time.Second:
		return "second"
	}
	return d.String()
}

func rateString(r config.Rate) string {
	b, _ := r.MarshalText() // cannot fail
	return string(b)
}

// ExplainResponse is the body of POST /v1/routes/explain: the route, and
// the destination countries of the recipient's phone numbers as the
// gateway decided them (what a policy's countries are checked against).
type ExplainResponse struct {
	routing.Explanation
	// Country is the country of to.phone, or of to.whatsapp when there
	// is no phone; empty when the recipient has no phone number.
	Country string `json:"country,omitempty"`
	// CountryFrom is the field Country was read from: "phone" or
	// "whatsapp" (what a policy's match.countries is judged on).
	CountryFrom string `json:"country_from,omitempty"`
	// Countries gives the country of each phone number, by field.
	Countries *admission.Countries `json:"countries,omitempty"`
	// SendsAt is when the message would first go to a channel, when that
	// is later than now: its send_at, or the end of the policy's quiet
	// hours. WaitReason (send_at, quiet_hours) and Wait say why.
	SendsAt    *time.Time `json:"sends_at,omitempty"`
	WaitReason string     `json:"wait_reason,omitempty"`
	Wait       string     `json:"wait,omitempty"`
}

func explainCountries(phones admission.Phones) (country, from string, _ *admission.Countries) {
	if phones.Phone == nil && phones.WhatsApp == nil {
		return "", "", nil
	}
	c := phones.Countries()
	country, from = c.Phone, "phone"
	if country == "" {
		country, from = c.WhatsApp, "whatsapp"
	}
	return country, from, &c
}

// refused counts a send a policy's admission rules refused (metrics), by
// its error code: country_not_allowed or recipient_rate_limited.
func (s *Server) refused(policy string, err error) {
	var e *Error
	if s.deps.AdmissionRefused != nil && errors.As(err, &e) {
		s.deps.AdmissionRefused(policy, e.Code)
	}
}
