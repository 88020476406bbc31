package ui

import (
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// ---- wording ----
//
// The sentences a support agent reads: channels named as agents know them
// and why a route moved on.

func orText(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

var kindLabels = map[channels.Kind]string{
	channels.WhatsApp: "WhatsApp", channels.SMS: "SMS", channels.Email: "email", channels.Telegram: "Telegram",
}

// channelLabel names a channel as an agent knows it: its kind ("SMS"),
// with the configured name when that says more ("SMS (twilio-eu)").
func (s *dash) channelLabel(name string) string {
	l := s.b.Router().Lane(name)
	if l == nil {
		return name
	}
	label := kindLabels[l.Kind]
	if label == "" {
		return name
	}
	if strings.EqualFold(name, string(l.Kind)) {
		return label
	}
	return label + " (" + name + ")"
}

func capFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// failoverReason says, for a support agent, why the route moved on from
// attempt a and what it did next.
func (s *dash) failoverReason(a AttemptView, next *AttemptView, pol *config.Policy, final store.Status) string {
	ch := capFirst(s.channelLabel(a.Channel))
	// "sim: recipient rejected (permanent)": the class is said in words.
	a.Error = strings.TrimSuffix(a.Error, " ("+a.ErrorClass+")")
	var within time.Duration
	if pol != nil {
		within = pol.ReceiptTimeout[a.Channel].D()
		if l := s.b.Router().Lane(a.Channel); l != nil && reason.Parse(a.Reason) == reason.NoRead {
			within = pol.ReadTimeout[string(l.Kind)].D()
		}
	}
	if within <= 0 && a.EndedAt != nil {
		within = a.EndedAt.Sub(a.StartedAt).Round(time.Second)
	}
	what := reason.Parse(a.Reason).Sentence(reason.Facts{Channel: ch, Error: a.Error, ErrorClass: a.ErrorClass,
		Skipped: a.Status == string(store.AttemptSkipped), Within: within})
	switch {
	case next != nil && next.Status == string(store.AttemptSkipped):
		return what + ", so we moved on to " + s.channelLabel(next.Channel) + "."
	case next != nil:
		return what + ", so we sent it by " + s.channelLabel(next.Channel) + "."
	case final == store.StatusFailed:
		return what + ", and no channel was left to try, so the message failed."
	case final.Final():
		return what + "."
	}
	return what + ", so we are moving on to the next channel."
}
