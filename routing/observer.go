package routing

import (
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

// Observer is told what the routing core does, for metrics. Calls come
// from many goroutines and must not block.
type Observer interface {
	// Attempt: one attempt on a channel ended with outcome: "sent" or
	// "delivered" when the provider took it, the error class when it failed
	// ("transient", "permanent", "rate_limited", ...), or "skipped_<reason>"
	// when no call was made. took is the provider call's duration.
	Attempt(channel, outcome string, took time.Duration)
	// Failover: the route moved on from one channel to the next ("" when
	// the route was exhausted) because of trigger.
	Failover(from, to, trigger string)
	// Finished: a message reached a final status (channel is "" if none).
	Finished(status store.Status, channel, policy string)
	// Receipt: a provider's delivery report was applied.
	Receipt(channel string, status store.AttemptStatus, late bool)
	// Degraded: a message of policy ended delivered on channel, which is
	// not the first of its route (is_fallback). Once per message.
	Degraded(channel, policy string)
}

type nopObserver struct{}

func (nopObserver) Attempt(string, string, time.Duration)     {}
func (nopObserver) Failover(string, string, string)           {}
func (nopObserver) Finished(store.Status, string, string)     {}
func (nopObserver) Receipt(string, store.AttemptStatus, bool) {}
func (nopObserver) Degraded(string, string)                   {}

// observe reports a transition's attempts, failovers and final status.
func observe(o Observer, m *store.Message, t *store.Transition) {
	for i, a := range t.Attempts {
		// Provider calls are reported by send, with their latency; here
		// only the skips, which make no call.
		if a.Seq > m.Attempts && a.Status == store.AttemptSkipped {
			o.Attempt(a.Channel, a.Reason.SkippedOutcome(), 0)
		}
		// Skips (no_address, unknown_channel) are not failovers; a canary
		// is one, on silent: the route moved on anyway.
		if trigger, ok := a.Reason.FailoverLabel(); ok {
			to := ""
			if i+1 < len(t.Attempts) {
				to = t.Attempts[i+1].Channel
			}
			o.Failover(a.Channel, to, trigger)
		}
	}
	// A message claimed delivered (waiting for its read) that stays
	// delivered finished before.
	if t.Status.Final() && t.Status != m.Status {
		o.Finished(t.Status, t.Channel, m.Policy)
	}
}
