package ui

import (
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
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
	var what string
	switch a.Reason {
	case "no_receipt":
		wait := ""
		if pol != nil {
			if d := pol.ReceiptTimeout[a.Channel].D(); d > 0 {
				wait = " within " + d.String()
			}
		}
		if wait == "" && a.EndedAt != nil {
			wait = " within " + a.EndedAt.Sub(a.StartedAt).Round(time.Second).String()
		}
		what = ch + " accepted the message but did not confirm delivery" + wait
	case "silent":
		// A silent outage: the channel accepts messages but its delivery
		// receipts stopped coming (routing's receipt health).
		if a.Status == string(store.AttemptSkipped) {
			what = ch + " was skipped: it has stopped confirming deliveries (a silent outage)"
		} else {
			what = ch + " accepted the message, but it has stopped confirming deliveries (a silent outage), so we did not wait for its deadline"
		}
		if a.Error != "" {
			what += " (" + a.Error + ")"
		}
	case "undelivered":
		what = ch + " reported that the message could not be delivered"
		if a.Error != "" {
			what += " (" + a.Error + ")"
		}
	case "breaker_open":
		what = ch + " was skipped: its circuit breaker was open after repeated failures"
	case "unhealthy":
		what = ch + " was skipped: its health checks said it was down"
		if a.Error != "" {
			what += " (" + a.Error + ")"
		}
	case "disabled":
		what = ch + " was skipped: ops had switched it off"
		if r := strings.TrimPrefix(a.Error, "disabled by ops: "); r != "" {
			what += " (" + r + ")"
		}
	case "no_address":
		what = ch + " was skipped: the message has no address for it"
	case "unknown_channel":
		what = ch + " was skipped: it is no longer configured"
	case "error":
		switch channels.Class(a.ErrorClass) {
		case channels.Permanent:
			what = ch + " rejected the message: " + orText(a.Error, "no reason given")
		case channels.Ambiguous:
			what = ch + " did not answer in time after the message was handed over, so it may have been sent (a duplicate is possible)"
		case channels.Misconfigured:
			what = ch + " is misconfigured on our side: " + orText(a.Error, "no details")
		case channels.Transient:
			what = ch + " kept failing with temporary errors until its retries ran out (last: " + orText(a.Error, "no details") + ")"
		default:
			what = ch + " failed: " + orText(a.Error, "no details")
		}
	default:
		what = ch + " was left (" + a.Reason + ")"
	}
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
