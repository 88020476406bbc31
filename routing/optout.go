package routing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/pii"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// Opt-outs. A channel whose kind the recipient left (the suppression
// list) is skipped with reason opted_out, whatever the policy's
// failover_on says, and the route moves on; a provider that refuses a send
// because the recipient opted out (channels.ErrOptedOut) puts them on the
// list and the route moves on the same way.
//
// The lookup is one store.SuppressionsFor per step, made only when a
// channel of the route has an address for the message. The stores answer
// it from an in-memory filter unless one of the message's addresses is on
// the list, so the hot path gets no database read (and never a write) for
// the usual message (BenchmarkStepSuppressionLookup).

// SuppressionObserver is implemented by an Observer that counts changes
// to the suppression list (metrics: switchboard_suppressions_changed_total).
type SuppressionObserver interface {
	// SuppressionChanged: an entry of kind from source was "added" or
	// "removed".
	SuppressionChanged(kind, source, action string)
}

// optOutLookup is a step's view of the recipient's suppression entries,
// read once, on first use.
type optOutLookup struct {
	done    bool
	entries []store.Suppression
	err     error
}

// errOptOutUnknown: the suppression list could not be read, so the step
// cannot tell whether the recipient opted out.
var errOptOutUnknown = errors.New("could not read the suppression list")

// optOut turns dec into an opted_out skip when the recipient opted out of
// its channel's kind. A channel the route leaves out anyway for the
// message (no address, no longer configured) keeps its reason.
func (s *stepper) optOut(ctx context.Context, m *store.Message, dec Decision) (Decision, error) {
	if dec.Kind == "" || dec.Reason == reason.NoAddress || dec.Reason == reason.UnknownChannel {
		return dec, nil // no lookup for a channel the message skips anyway
	}
	l := &s.optOuts
	if !l.done && s.d.store != nil { // the step tests run without a store
		l.done = true
		l.entries, l.err = s.d.store.SuppressionsFor(ctx, m.To)
	}
	if l.err != nil {
		return dec, fmt.Errorf("%w: %w", errOptOutUnknown, l.err)
	}
	return applyOptOut(dec, l.entries), nil
}

// applyOptOut is dec, or an opted_out skip when one of entries (the
// recipient's) names its channel's kind.
func applyOptOut(dec Decision, entries []store.Suppression) Decision {
	if dec.Kind == "" || dec.Reason == reason.NoAddress || dec.Reason == reason.UnknownChannel {
		return dec
	}
	for _, e := range entries {
		if e.Kind == dec.Kind {
			dec.Use, dec.Reason, dec.errorClass, dec.fails = false, reason.OptedOut, "", false
			dec.Detail = optOutDetail(e)
			return dec.worded()
		}
	}
	return dec
}

// WithOptOuts marks the channels of e whose kind the recipient opted out
// of (entries, from store.SuppressionsFor) opted_out and says where the
// message would go then, so an explanation says what the dispatcher,
// which checks the list, would do.
func (e *Explanation) WithOptOuts(entries []store.Suppression) {
	if len(entries) == 0 {
		return
	}
	e.Channel = ""
	for i, d := range e.Channels {
		d = applyOptOut(d, entries)
		e.Channels[i] = d
		if e.Channel == "" && d.Use {
			e.Channel = d.Channel
		}
	}
	for _, d := range e.Channels {
		if d.Use {
			break
		}
		if d.stopsRoute() {
			e.Channel = "" // the dispatcher waits for this channel, or fails there: nowhere now
			break
		}
	}
}

// optOutDetail says, for the attempt's error text and the dashboard, which
// entry stopped the message: "STOP, inbound, since 2026-12-03T10:00:00Z".
func optOutDetail(e store.Suppression) string {
	parts := make([]string, 0, 3)
	if e.Reason != "" {
		parts = append(parts, e.Reason)
	}
	parts = append(parts, string(e.Source), "since "+e.CreatedAt.UTC().Format(time.RFC3339))
	return strings.Join(parts, ", ")
}

// lookupFailed leaves the message for a later step when the suppression
// list could not be read: sending blind could message someone who opted
// out. It returns true: the step is done.
func (s *stepper) lookupFailed(m *store.Message, err error) bool {
	s.d.log.Warn("suppression lookup failed; message retried later", "id", m.ID, "err", err)
	s.t.LastError = err.Error()
	return s.wait(s.now.Add(waitRetry))
}

// providerOptedOut records attempt a, refused by the provider because the
// recipient opted out: the recipient goes on the suppression list for the
// lane's kind (source provider, reason the provider's code) and the route
// moves on, as for any opted_out skip. The error is permanent, so it never
// counted against the channel's breaker.
func (s *stepper) providerOptedOut(ctx context.Context, m *store.Message, lane *Lane, a store.Attempt, err error) {
	code := ""
	var ce *channels.Error
	if errors.As(err, &ce) {
		code = ce.Code
	}
	addr := AddressFor(m.To, lane.Kind)
	serr := errors.New("no store")
	if s.d.store != nil {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		serr = s.d.store.Suppress(sctx, store.Suppression{
			Address: addr, Kind: string(lane.Kind), Reason: code, Source: store.SourceProvider, CreatedAt: a.EndedAt,
		})
		cancel()
	}
	if serr != nil {
		// The attempt still records the refusal; the next send to them
		// asks the provider again, which refuses again.
		s.d.log.Error("could not suppress a recipient the provider says opted out", "id", m.ID, "channel", lane.Name,
			"to", pii.Address{Kind: string(lane.Kind), Value: addr}, "err", serr)
	} else if o, ok := s.d.obs.(SuppressionObserver); ok {
		o.SuppressionChanged(string(lane.Kind), string(store.SourceProvider), "added")
	}
	a.Status, a.ErrorClass, a.Error = store.AttemptFailed, string(channels.ClassOf(err)), err.Error()
	a.Reason = reason.OptedOut
	s.t.Attempts = append(s.t.Attempts, a)
	s.t.LastError = fmt.Sprintf("%s: %s", a.Channel, err)
	s.t.Status = maxStatus(s.t.Status, store.StatusSending)
	s.optedOut = append(s.optedOut, a.Channel)
	s.moveOn()
}

// exhaustedByOptOut reports whether the route ended because the recipient
// opted out: this step left at least one channel for that, and every other
// channel it left was a skip too (no address, no longer configured), not a
// failure with an error of its own to report.
func (s *stepper) exhaustedByOptOut() bool {
	if len(s.optedOut) == 0 {
		return false
	}
	for _, a := range s.t.Attempts {
		if a.Reason != reason.OptedOut && a.Reason.Kind() != reason.KindSkip {
			return false
		}
	}
	return true
}

// optedOutError is the last_error of a message whose route ended because
// the recipient opted out: it starts with the reason, opted_out.
func optedOutError(names []string) string {
	return "opted_out: the recipient opted out of " + strings.Join(names, ", ") + " and no other channel of the route could take the message"
}
