// Package reason names why a route moved on from a channel, skipped it, or
// waits for it: the failover triggers, skips, waits and canaries of the
// routing core. Each reason is one constant with its support-facing
// sentence, and every reader (the dashboard, the CLI, explain, metrics,
// drill reports) takes its words and properties from here rather than from
// the string.
//
// The string values are a contract: they are stored in the attempts'
// reason column of both stores, returned by the API (failover_reason, an
// explanation's reason) and used as metric label values. Adding a reason is
// one constant and one entry in the table below.
package reason

import (
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
)

// Reason says why a route moved on from (or skipped, or waits for) a
// channel. The zero value means none: an attempt that is current, or that
// ended the message without a trigger firing.
type Reason string

const (
	None Reason = ""
	// OK: an explanation's channel that would be used now.
	OK Reason = "ok"

	// Failover triggers: the route moved on from the channel.
	Error       Reason = "error"        // the provider call failed (trigger error)
	BreakerOpen Reason = "breaker_open" // the channel's circuit breaker is open
	Unhealthy   Reason = "unhealthy"    // its health checks say it is down
	Disabled    Reason = "disabled"     // ops switched it off (trigger unhealthy)
	NoReceipt   Reason = "no_receipt"   // accepted, no delivered receipt by the deadline
	Undelivered Reason = "undelivered"  // the provider reported it undelivered
	Silent      Reason = "silent"       // the channel accepts messages but does not deliver them
	NoRead      Reason = "no_read"      // delivered, no read receipt within the policy's read_timeout

	// Canary: the message also went through a silent channel, in parallel
	// with its fallback, to tell whether the channel is back.
	Canary Reason = "canary"

	// Skips: the channel cannot take this message at all.
	NoAddress      Reason = "no_address"
	UnknownChannel Reason = "unknown_channel"

	// Waits: the policy does not fail over on the trigger, so the message
	// waits for the channel (bounded by its TTL).
	WaitUnhealthy   Reason = "wait_unhealthy"
	WaitDisabled    Reason = "wait_disabled"
	WaitBreaker     Reason = "wait_breaker"
	WaitRateLimited Reason = "wait_rate_limited" // a 429: never a failover
)

// Kind groups reasons by what they do to a route.
type Kind uint8

const (
	KindNone    Kind = iota // no reason, or one this version does not know
	KindOK                  // the channel is used
	KindTrigger             // the route moved on from the channel
	KindCanary              // sent on a silent channel, and the route moved on
	KindSkip                // the channel cannot take the message
	KindWait                // the message waits for the channel
)

// Facts are what a sentence says about one attempt.
type Facts struct {
	Channel    string // as the reader knows it: "WhatsApp", "SMS (twilio-eu)"
	Error      string // the attempt's error or detail
	ErrorClass string // a channels.Class, for Error
	Skipped    bool   // no provider call was made
	// Within is the receipt deadline waited out (no_receipt); 0 if unknown.
	Within time.Duration
}

type info struct {
	kind Kind
	// trigger is the failover_on trigger that decides whether the route
	// moves on ("" for none: skips always do, waits never).
	trigger config.Trigger
	// wait is the reason a message waits with when the policy does not
	// fail over on trigger.
	wait Reason
	// label is the trigger label of switchboard_failovers_total.
	label string
	// skipped is the outcome label of switchboard_attempts_total for an
	// attempt skipped for this reason.
	skipped string
	// sentence says, for a support agent, what happened on the channel.
	sentence func(Facts) string
}

var table = map[Reason]*info{
	OK: {kind: KindOK, sentence: func(f Facts) string { return f.Channel + " can take the message" }},
	Error: {kind: KindTrigger, trigger: config.TriggerError, sentence: func(f Facts) string {
		switch channels.Class(f.ErrorClass) {
		case channels.Permanent:
			return f.Channel + " rejected the message: " + orText(f.Error, "no reason given")
		case channels.Ambiguous:
			return f.Channel + " did not answer in time after the message was handed over, so it may have been sent (a duplicate is possible)"
		case channels.Misconfigured:
			return f.Channel + " is misconfigured on our side: " + orText(f.Error, "no details")
		case channels.Transient:
			return f.Channel + " kept failing with temporary errors until its retries ran out (last: " + orText(f.Error, "no details") + ")"
		}
		return f.Channel + " failed: " + orText(f.Error, "no details")
	}},
	BreakerOpen: {kind: KindTrigger, trigger: config.TriggerBreakerOpen, wait: WaitBreaker, sentence: func(f Facts) string {
		return f.Channel + " was skipped: its circuit breaker was open after repeated failures"
	}},
	Unhealthy: {kind: KindTrigger, trigger: config.TriggerUnhealthy, wait: WaitUnhealthy, sentence: func(f Facts) string {
		return f.Channel + " was skipped: its health checks said it was down" + paren(f.Error)
	}},
	Disabled: {kind: KindTrigger, trigger: config.TriggerUnhealthy, wait: WaitDisabled, sentence: func(f Facts) string {
		return f.Channel + " was skipped: ops had switched it off" + paren(strings.TrimPrefix(f.Error, "disabled by ops: "))
	}},
	NoReceipt: {kind: KindTrigger, trigger: config.TriggerNoReceipt, sentence: func(f Facts) string {
		within := ""
		if f.Within > 0 {
			within = " within " + f.Within.String()
		}
		return f.Channel + " accepted the message but did not confirm delivery" + within
	}},
	Undelivered: {kind: KindTrigger, trigger: config.TriggerUndelivered, sentence: func(f Facts) string {
		return f.Channel + " reported that the message could not be delivered" + paren(f.Error)
	}},
	Silent: {kind: KindTrigger, trigger: config.TriggerSilent, sentence: func(f Facts) string {
		// A silent outage: the channel accepts messages but its delivery
		// receipts stopped coming (routing's receipt health).
		if f.Skipped {
			return f.Channel + " was skipped: it has stopped confirming deliveries (a silent outage)" + paren(f.Error)
		}
		return f.Channel + " accepted the message, but it has stopped confirming deliveries (a silent outage), so we did not wait for its deadline" + paren(f.Error)
	}},
	NoRead: {kind: KindTrigger, trigger: config.TriggerNoRead, sentence: func(f Facts) string {
		within := ""
		if f.Within > 0 {
			within = " within " + f.Within.String()
		}
		return f.Channel + " delivered the message but the recipient did not read it" + within
	}},
	Canary: {kind: KindCanary, trigger: config.TriggerSilent, sentence: func(f Facts) string {
		return f.Channel + " has stopped confirming deliveries (a silent outage); the message also went through it as a canary, to tell whether it is back" + paren(f.Error)
	}},
	NoAddress: {kind: KindSkip, sentence: func(f Facts) string {
		return f.Channel + " was skipped: the message has no address for it"
	}},
	UnknownChannel: {kind: KindSkip, sentence: func(f Facts) string {
		return f.Channel + " was skipped: it is no longer configured"
	}},
	WaitUnhealthy: {kind: KindWait, trigger: config.TriggerUnhealthy, sentence: func(f Facts) string {
		return f.Channel + " is down by its health checks, and the policy waits for it rather than fail over" + paren(f.Error)
	}},
	WaitDisabled: {kind: KindWait, trigger: config.TriggerUnhealthy, sentence: func(f Facts) string {
		return f.Channel + " is switched off by ops, and the policy waits for it rather than fail over" + paren(strings.TrimPrefix(f.Error, "disabled by ops: "))
	}},
	WaitBreaker: {kind: KindWait, trigger: config.TriggerBreakerOpen, sentence: func(f Facts) string {
		return f.Channel + "'s circuit breaker is open, and the policy waits for it rather than fail over"
	}},
	WaitRateLimited: {kind: KindWait, sentence: func(f Facts) string {
		return f.Channel + " asked us to slow down, so the message waits for it" + paren(f.Error)
	}},
}

func init() {
	for r, in := range table {
		switch in.kind {
		case KindTrigger:
			in.label = string(r)
		case KindCanary:
			in.label = string(in.trigger) // a canary's route moved on because the channel is silent
		}
		in.skipped = "skipped_" + string(r)
	}
}

// Parse reads a stored or received reason. A value this version does not
// know is kept as it is (Known reports false), so a reason written by a
// newer instance sharing the store survives the round trip.
func Parse(s string) Reason { return Reason(s) }

func (r Reason) String() string { return string(r) }

// Known reports whether r is a reason this version has words for.
func (r Reason) Known() bool { return table[r] != nil }

// Kind says what the reason does to a route.
func (r Reason) Kind() Kind {
	if in := table[r]; in != nil {
		return in.kind
	}
	return KindNone
}

// Failover reports whether the route moved on from the channel for this
// reason: a failover trigger (not a skip, a wait or a canary).
func (r Reason) Failover() bool { return r.Kind() == KindTrigger }

// Wait reports whether the message waits for the channel.
func (r Reason) Wait() bool { return r.Kind() == KindWait }

// Trigger is the failover_on trigger that decides whether a policy moves
// on for this reason, or waits ("" when no trigger applies).
func (r Reason) Trigger() config.Trigger {
	if in := table[r]; in != nil {
		return in.trigger
	}
	return ""
}

// Waiting is the reason a message waits with when its policy does not fail
// over on r's trigger: wait_unhealthy for unhealthy, and so on. It is r
// itself for a reason with no wait.
func (r Reason) Waiting() Reason {
	if in := table[r]; in != nil && in.wait != None {
		return in.wait
	}
	return r
}

// FailoverLabel is the trigger label of switchboard_failovers_total for an
// attempt with this reason, and false when the attempt is no failover.
// A canary counts as a failover on silent.
func (r Reason) FailoverLabel() (string, bool) {
	if in := table[r]; in != nil && in.label != "" {
		return in.label, true
	}
	return "", false
}

// SkippedOutcome is the outcome label of switchboard_attempts_total for an
// attempt skipped for this reason: "skipped_<reason>".
func (r Reason) SkippedOutcome() string {
	if in := table[r]; in != nil {
		return in.skipped
	}
	return "skipped_" + string(r)
}

// Sentence says, for a support agent, what happened on the channel: "SMS
// rejected the message: ...". It has no final period, so callers can go on
// with what the route did next.
func (r Reason) Sentence(f Facts) string {
	if in := table[r]; in != nil {
		return in.sentence(f)
	}
	return f.Channel + " was left (" + string(r) + ")"
}

// All lists every known reason, for tests and documentation.
func All() []Reason {
	out := make([]Reason, 0, len(table))
	for r := range table {
		out = append(out, r)
	}
	return out
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}
