package channels

import (
	"errors"
	"fmt"
)

// DefaultSender is the key of a by-country sender map (Twilio's senders,
// WhatsApp Cloud's phone_number_ids) that serves every country without a
// key of its own.
const DefaultSender = "default"

// ErrNoSender is wrapped by the error of a send to a country a channel has
// no sender for (its by-country map has neither the country nor
// "default"). Such an error is misconfigured, so the route moves on at
// once, but it says nothing about the provider or the other countries:
// routing keeps it out of the channel's circuit breaker.
var ErrNoSender = errors.New("no sender for the destination country")

// NoSenderError is a send to Country refused before any provider call.
type NoSenderError struct {
	Country string // "" when the address could not be placed
	Key     string // the option that lacks it: "senders", "phone_number_ids"
}

func (e *NoSenderError) Error() string {
	country := e.Country
	if country == "" {
		country = "an unknown country"
	}
	return fmt.Sprintf("no sender for %s: %s has neither %s nor %q", country, e.Key, country, DefaultSender)
}

func (e *NoSenderError) Is(target error) bool { return target == ErrNoSender }
