package routing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// A step takes one claimed message as far as it can go now, in three
// phases: expire (a final or expired message), judge the current attempt
// (the accepted one waiting on its receipt), and walk the route (skip, wait
// for, or send on each channel in turn until one takes the message).

// stepper carries one step's state between its phases. The message is
// passed to each phase rather than kept here: escape analysis does not
// tell a struct's fields apart, and a message kept with the transition
// would always be moved to the heap.
type stepper struct {
	d       *Dispatcher
	r       *Router
	pol     *config.Policy
	t       *store.Transition
	now     time.Time // when the step started
	expires time.Time // the message's TTL; zero: none
	seq     int       // the last attempt number used
	// optOuts: the recipient's suppression entries, read on first use;
	// optedOut: the channels this step left because they opted out
	// (optout.go).
	optOuts  optOutLookup
	optedOut []string
}

// step decides what happens to m now. It calls at most the channels needed
// to get the message accepted (or to exhaust the route) and returns the
// transition to record.
func (d *Dispatcher) step(ctx context.Context, m *store.Message) *store.Transition {
	r := d.router.Load()
	pol := r.Policy(m.Policy)
	if pol == nil {
		// The policy was removed by a reload; the message keeps its route
		// and fails over on every trigger.
		pol = &config.Policy{Name: m.Policy, Route: m.Route, FailoverOn: config.AllTriggers}
	}
	now := d.now()
	s := stepper{d: d, r: r, pol: pol, now: now, expires: m.ExpiresAt, seq: m.Attempts, t: &store.Transition{
		MessageID: m.ID, Owner: d.owner, Now: now,
		Status: m.Status, Channel: m.Channel, Step: m.Step, Tries: m.Tries, LastError: m.LastError,
	}}
	switch {
	case m.Status == store.StatusDelivered:
		// Delivered and due: its read deadline came (read.go).
		if s.judgeRead(m) {
			return s.t
		}
	case s.expire(m) || s.judgeCurrent(m):
		return s.t
	}
	s.walkRoute(ctx, m)
	return s.t
}

// due makes the message due again at at, or at its TTL if that is
// sooner: a message never waits past its TTL; it is looked at again when
// it expires, and ends as expired then.
func (s *stepper) due(at time.Time) {
	if !s.expires.IsZero() && s.expires.Before(at) {
		at = s.expires
	}
	s.t.NextAt = at
}

// wait leaves the message waiting for a channel (status at least sending)
// until at, bounded by its TTL. It returns true: the step is done.
func (s *stepper) wait(at time.Time) bool {
	s.t.Status = maxStatus(s.t.Status, store.StatusSending)
	s.due(at)
	return true
}

// finish ends the message with status (failed or delivered): it is not due
// again.
func (s *stepper) finish(status store.Status) {
	s.t.Status, s.t.NextAt = status, time.Time{}
}

// moveOn goes on to the next channel of the route.
func (s *stepper) moveOn() { s.t.Step, s.t.Tries = s.t.Step+1, 0 }

// expire handles a message that needs no routing: finished by a receipt
// after it was claimed, or past its TTL. It returns true when it did.
func (s *stepper) expire(m *store.Message) bool {
	t := s.t
	if m.Status.Final() {
		// A receipt finished it after it was claimed: nothing to do but
		// give the lease back.
		t.NextAt = time.Time{}
		return true
	}
	if m.ExpiresAt.IsZero() || s.now.Before(m.ExpiresAt) {
		return false
	}
	t.NextAt = time.Time{}
	if c := m.Current; c != nil && c.Status == store.AttemptSent && c.EndedAt.IsZero() && c.Step == m.Step {
		// A provider accepted it and no receipt came: the message
		// stays sent (it may well have arrived), and we stop waiting.
		c.EndedAt = s.now
		t.Attempts = append(t.Attempts, *c)
		t.LastError = fmt.Sprintf("ttl passed with no delivery receipt from %s, which accepted the message", c.Channel)
		return true
	}
	t.Status = store.StatusExpired
	t.LastError = "ttl passed before any channel accepted the message"
	return true
}

// judgeCurrent judges the current attempt when it was accepted and is
// waiting on its receipt: we are here because its deadline passed, its
// channel went silent, or a failure receipt arrived. It returns true when
// the step is done (the message keeps waiting, or failed); otherwise the
// route moves on from that attempt.
func (s *stepper) judgeCurrent(m *store.Message) bool {
	t, c := s.t, m.Current
	if c == nil || c.Step != m.Step || !c.EndedAt.IsZero() ||
		(c.Status != store.AttemptSent && c.Status != store.AttemptUndelivered) {
		return false
	}
	rh := s.r.lanes[c.Channel].ReceiptHealth()
	timeout := s.pol.ReceiptTimeout[c.Channel].D()
	why := s.currentTrigger(c, rh, timeout)
	switch {
	case why == reason.None:
		// Woken before its deadline, and the policy waits it out.
		s.due(c.StartedAt.Add(timeout))
		return true
	case !s.pol.FailsOverOn(why.Trigger()) && why == reason.Undelivered:
		c.EndedAt = s.now
		t.Attempts = append(t.Attempts, *c)
		s.t.Status = store.StatusFailed
		t.LastError = fmt.Sprintf("%s reported the message undelivered: %s", c.Channel, c.Error)
		return true
	case !s.pol.FailsOverOn(why.Trigger()):
		t.NextAt = time.Time{} // keep waiting for a receipt, with no deadline
		return true
	}
	c.Reason, c.EndedAt = why, s.now
	switch why {
	case reason.NoReceipt:
		t.LastError = fmt.Sprintf("%s: no delivered receipt within %s", c.Channel, timeout)
	case reason.Silent:
		c.Error = rh.SilentDetail()
		t.LastError = fmt.Sprintf("%s: %s; failed over without waiting out the %s receipt deadline", c.Channel, c.Error, timeout)
	default:
		t.LastError = fmt.Sprintf("%s: provider reported undelivered: %s", c.Channel, c.Error)
	}
	t.Attempts = append(t.Attempts, *c)
	t.Step, t.Tries = m.Step+1, 0
	return false
}

// currentTrigger says which trigger fired on the current attempt c:
// undelivered (a failure receipt), silent (woken early because its channel
// went silent), or no_receipt (its deadline passed). None: woken before
// its deadline with no reason to move on.
func (s *stepper) currentTrigger(c *store.Attempt, rh *ReceiptHealth, timeout time.Duration) reason.Reason {
	switch {
	case c.Status == store.AttemptUndelivered:
		rh.abandon(c.MessageID, c.Seq)
		return reason.Undelivered
	case timeout > 0 && s.now.Before(c.StartedAt.Add(timeout)):
		// Woken before its deadline: the channel went silent and its
		// waiting messages were made due (see flushSilent).
		if !rh.Silent() || !s.pol.FailsOverOn(config.TriggerSilent) {
			return reason.None
		}
		rh.abandon(c.MessageID, c.Seq)
		return reason.Silent
	}
	rh.miss(c.MessageID, c.Seq, s.now)
	return reason.NoReceipt
}

// walkRoute tries the route's channels from the current step until one
// takes the message, the message has to wait, or the route is exhausted.
func (s *stepper) walkRoute(ctx context.Context, m *store.Message) {
	for s.t.Step < len(m.Route) {
		name := m.Route[s.t.Step]
		dec, err := s.optOut(ctx, m, s.r.decide(s.pol, name, m.To, s.d.now()))
		if err != nil {
			s.lookupFailed(m, err)
			return
		}
		var done bool
		if dec.Use {
			done = s.try(ctx, m, name)
		} else {
			done = s.pass(ctx, m, dec)
		}
		if done {
			return
		}
	}
	s.finish(store.StatusFailed)
	lastErr := s.t.LastError
	if s.exhaustedByOptOut() {
		s.t.LastError = optedOutError(s.optedOut)
		return
	}
	if lastErr == "" {
		lastErr = "no channel in the route could take the message (see attempts)"
	}
	s.t.LastError = "route exhausted: " + lastErr
}

// pass handles a channel the route decision left out: the message waits
// for it, or it is skipped (a silent channel may get a canary). It returns
// true when the step is done.
func (s *stepper) pass(ctx context.Context, m *store.Message, dec Decision) bool {
	switch {
	case dec.Reason == reason.WaitRateLimited:
		return s.wait(s.r.lanes[dec.Channel].PausedUntil())
	case dec.Reason.Wait():
		// The policy does not fail over on this trigger: wait for the
		// channel, bounded by the message's TTL.
		return s.wait(s.now.Add(waitRetry))
	}
	s.seq++
	if dec.Reason == reason.Silent && !s.d.stopping.Load() && s.d.leaseOK(m.ID) {
		lane := s.r.lanes[dec.Channel]
		if lane.receipts.takeCanary(AddressFor(m.To, lane.Kind)) {
			// A canary: the message also goes through the silent
			// channel, in parallel with its fallback; its receipt
			// tells whether the channel is back.
			if done := s.d.canary(ctx, s.t, m, s.pol, lane, s.seq); done {
				return true
			}
			s.moveOn()
			return false
		}
	}
	s.t.Attempts = append(s.t.Attempts, store.Attempt{
		MessageID: m.ID, Seq: s.seq, Step: s.t.Step, Channel: dec.Channel,
		Status: store.AttemptSkipped, Reason: dec.Reason, Error: dec.Detail,
		StartedAt: s.now, EndedAt: s.now,
	})
	if dec.Reason == reason.OptedOut {
		s.optedOut = append(s.optedOut, dec.Channel)
	}
	s.moveOn()
	return false
}

// try sends the message on the route's channel name, unless it has to
// wait. It returns true when the step is done.
func (s *stepper) try(ctx context.Context, m *store.Message, name string) bool {
	d, t := s.d, s.t
	if d.stopping.Load() {
		// Shutting down: leave the rest of the route to the next
		// process instead of holding shutdown for more provider calls.
		t.Status = maxStatus(t.Status, store.StatusSending)
		t.NextAt = s.now
		return true
	}
	if !d.leaseOK(m.ID) {
		// The lease could not be renewed (the store is unreachable, or
		// another instance took the message): a send now could be a
		// second one. Leave the message to whoever holds it next; if
		// the lease is still ours, Advance makes it due at once.
		d.log.Warn("lease not confirmed; message left to the next claim without sending", "id", m.ID)
		t.NextAt = s.now
		return true
	}
	if s.quietWait(m) {
		return true
	}
	lane := s.r.lanes[name]
	if wait := lane.reserve(d.now()); wait > 0 {
		// Over the channel's configured rate: wait in the queue.
		return s.wait(s.now.Add(wait))
	}
	s.seq++
	a := store.Attempt{MessageID: m.ID, Seq: s.seq, Step: t.Step, Channel: name, StartedAt: d.now()}
	if m.Reclaimed && t.Step == m.Step {
		// A previous process claimed this message and died before
		// recording what it did: it may have sent on this channel.
		a.Ambiguous = true
		a.Info = "a previous gateway process stopped mid-send; this may be a duplicate"
	}
	res, err := d.send(ctx, lane, m)
	end := d.now()
	a.EndedAt, a.Sender = end, res.Sender
	switch {
	case err == nil:
		s.accepted(m, lane, a, res, end)
		return true
	case errors.Is(err, errBreakerOpen):
		return s.breakerRefused(a)
	case errors.Is(err, channels.ErrOptedOut):
		s.providerOptedOut(ctx, m, lane, a, err)
		return false
	}
	return s.failed(lane, a, err, end)
}

// accepted records a provider's acceptance of attempt a: delivered at
// once, or sent and waiting for its receipt.
func (s *stepper) accepted(m *store.Message, lane *Lane, a store.Attempt, res channels.Result, end time.Time) {
	t := s.t
	a.Status, a.ProviderID = store.AttemptSent, res.ProviderID
	a.Info = joinInfo(a.Info, res.Info)
	a.EndedAt = time.Time{}
	s.d.charge(t, lane, m, &a, res)
	t.Channel, t.Tries = a.Channel, 0
	t.Status = maxStatus(t.Status, store.StatusSent)
	switch timeout := s.pol.ReceiptTimeout[a.Channel].D(); {
	case res.Delivered:
		a.Status, a.DeliveredAt, a.EndedAt = store.AttemptDelivered, end, end
		s.finish(store.StatusDelivered)
		s.awaitRead(m, lane, end)
	case timeout > 0 && s.pol.FailsOverOn(config.TriggerNoReceipt):
		s.due(end.Add(timeout))
		how := byStep
		if !s.pol.FailsOverOn(config.TriggerSilent) {
			how = byStepStay
		}
		lane.receipts.expect(m.ID, a.Seq, a.StartedAt, a.StartedAt.Add(timeout), how)
	default:
		// No receipt deadline: wait for a receipt until the TTL,
		// then stop waiting (see expire).
		t.NextAt = m.ExpiresAt
		if timeout > 0 {
			// Still judged against the deadline, by the receipt
			// breaker alone: no no_receipt step will come.
			lane.receipts.expect(m.ID, a.Seq, a.StartedAt, a.StartedAt.Add(timeout), bySweep)
		}
	}
	t.Attempts = append(t.Attempts, a)
}

// breakerRefused records attempt a refused by the channel's breaker (open,
// or half-open with its trial in flight): no provider call was made. It
// returns true when the message waits for the channel.
func (s *stepper) breakerRefused(a store.Attempt) bool {
	a.Status, a.Reason, a.Error = store.AttemptSkipped, reason.BreakerOpen, "the circuit breaker is open after repeated failures"
	s.t.Attempts = append(s.t.Attempts, a)
	if !s.pol.FailsOverOn(reason.BreakerOpen.Trigger()) {
		return s.wait(s.now.Add(waitRetry))
	}
	s.moveOn()
	return false
}

// failed judges attempt a, whose provider call failed with err: come back
// later (a 429, a transient error with retries left), assume it sent (an
// ambiguous one, when the policy says so), fail the message, or move on.
// It returns true when the step is done.
func (s *stepper) failed(lane *Lane, a store.Attempt, err error, end time.Time) bool {
	t := s.t
	class := channels.ClassOf(err)
	a.Status, a.ErrorClass, a.Error = store.AttemptFailed, string(class), err.Error()
	t.LastError = fmt.Sprintf("%s: %s", a.Channel, err)
	t.Status = maxStatus(t.Status, store.StatusSending)
	switch class {
	case channels.RateLimited:
		// Not the message's fault nor the provider's health: come back
		// when the provider asked, without using a retry.
		wait := channels.RetryAfterOf(err)
		if wait <= 0 {
			wait = time.Second
		} else {
			lane.pause(end, wait)
		}
		t.Attempts = append(t.Attempts, a)
		return s.wait(end.Add(wait))
	case channels.Transient:
		t.Tries++
		if t.Tries < max(lane.Config.Retry.Attempts, 1) {
			t.Attempts = append(t.Attempts, a)
			return s.wait(end.Add(backoff(lane.Config.Retry, t.Tries, s.d.rnd)))
		}
	case channels.Ambiguous:
		a.Ambiguous = true
		if s.pol.OnAmbiguous == config.AmbiguousAssumeSent {
			s.assumeSent(a, end)
			return true
		}
	}
	// Permanent, misconfigured, ambiguous, or transient with the retry
	// budget spent: this channel is done with the message.
	if !s.pol.FailsOverOn(reason.Error.Trigger()) {
		t.Attempts = append(t.Attempts, a)
		s.finish(store.StatusFailed)
		return true
	}
	a.Reason = reason.Error
	t.Attempts = append(t.Attempts, a)
	s.moveOn()
	return false
}

// assumeSent counts ambiguous attempt a as sent, for a policy that prefers
// "maybe nothing" to "maybe twice": the receipt deadline decides.
func (s *stepper) assumeSent(a store.Attempt, end time.Time) {
	t := s.t
	a.Status, a.EndedAt = store.AttemptSent, time.Time{}
	a.Info = joinInfo(a.Info, "assumed sent: the provider may have accepted it")
	t.Attempts = append(t.Attempts, a)
	t.Channel, t.Tries = a.Channel, 0
	t.Status = maxStatus(t.Status, store.StatusSent)
	t.NextAt = s.expires
	if timeout := s.pol.ReceiptTimeout[a.Channel].D(); timeout > 0 && s.pol.FailsOverOn(config.TriggerNoReceipt) {
		s.due(end.Add(timeout))
	}
}
