package routing

import (
	"context"
	"log/slog"
	"strings"

	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// A message is degraded when it ends delivered on a channel other than the
// first of its route (is_fallback in the API): it got through, but not the
// way its policy prefers. Each one is logged once at INFO and counted
// (Observer.Degraded), from the dispatcher when a send is delivered at once,
// or from Receipts when a delivered receipt finishes the message.

// failoverSummary lists, in order, the channels the route left and why:
// "whatsapp: error, sms: breaker_open". Attempts that carry no reason (the
// delivering one, a retry on the same channel) are left out.
func failoverSummary(attempts []store.Attempt) string {
	var parts []string
	for _, a := range attempts {
		if a.Reason == reason.None {
			continue
		}
		p := a.Channel + ": " + a.Reason.String()
		if len(parts) == 0 || parts[len(parts)-1] != p {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

// logDegraded logs the degraded event. No recipient, no body: the id finds
// the message for whoever may see it.
func logDegraded(log *slog.Logger, id, channel, policy string, attempts []store.Attempt) {
	log.Info("message delivered on a fallback channel",
		"id", id, "channel", channel, "policy", policy, "failover_reasons", failoverSummary(attempts))
}

// degradedAfterReceipt reports the degraded event for a message that a
// delivered receipt on channel just finished. Only messages with more than
// one attempt can be on a fallback channel, so only those are read back.
func (rc *Receipts) degradedAfterReceipt(channel string, res store.ReceiptResult) {
	if res.Seq <= 1 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), receiptReadTimeout)
	defer cancel()
	m, err := rc.Store.Get(ctx, res.MessageID)
	if err != nil {
		rc.logger().Warn("read message for the degraded event", "id", res.MessageID, "err", err)
		return
	}
	if m.Channel != channel || !store.IsFallback(channel, m.Route) {
		return
	}
	if rc.Observer != nil {
		rc.Observer.Degraded(channel, m.Policy)
	}
	logDegraded(rc.logger(), m.ID, channel, m.Policy, m.History)
}
