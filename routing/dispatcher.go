package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/internal/lograte"
	"github.com/switchboard-gw/switchboard/pii"
	"github.com/switchboard-gw/switchboard/store"
)

// waitRetry is how long a message waits before looking again at a channel
// that is unhealthy or has an open breaker, when its policy says to wait
// rather than fail over.
const waitRetry = 5 * time.Second

// Dispatcher claims due messages from the store and walks their routes.
type Dispatcher struct {
	advanceErrs lograte.Limiter // failed Advances, logged once per interval (leases.go)

	store  store.Store
	router atomic.Pointer[Router]
	cfg    config.Dispatch
	owner  string
	log    *slog.Logger
	obs    Observer
	now    func() time.Time
	rnd    func() float64

	wake     chan struct{}
	inflight sync.WaitGroup

	// local carries messages the API stored already leased to this
	// dispatcher, so fresh messages skip the store's Claim. reserved counts
	// slots promised by Reserve and not yet taken by Run.
	local    chan *store.Message
	reserved atomic.Int64
	// moreDue: the last claim filled its batch, so more due work is
	// likely waiting; a finishing worker then wakes the claim loop.
	moreDue  atomic.Bool
	stopping atomic.Bool // set at shutdown: finish the send in flight, start no new one

	// held: the messages this dispatcher holds a lease on and has not
	// finished with (handed over, claimed, or being processed), with the
	// lease end the store last confirmed. Their leases are renewed every
	// lease/3 while Run runs (see renewLoop in leases.go), and no provider
	// call is made for one whose lease is not confirmed (leaseOK).
	heldMu  sync.Mutex
	held    map[string]*heldLease
	holdGen uint64
	// claimFailures counts consecutive failed claims: the claim loop backs
	// off while the store is unreachable (claimWait).
	claimFailures int
	// renewTicker makes the renewal ticker; tests replace it.
	renewTicker func(every time.Duration) (<-chan time.Time, func())
}

// DispatcherOptions configures NewDispatcher.
type DispatcherOptions struct {
	Owner  string // lease owner; unique per process
	Logger *slog.Logger
	Now    func() time.Time // for tests; default time.Now
	// Observer is told about attempts, failovers and final statuses.
	Observer Observer
}

// NewDispatcher returns a dispatcher for r; call Run to start it.
func NewDispatcher(s store.Store, r *Router, cfg config.Dispatch, o DispatcherOptions) *Dispatcher {
	d := &Dispatcher{
		store: s, cfg: cfg, owner: o.Owner, log: o.Logger, now: o.Now, obs: o.Observer,
		rnd:  rand.Float64,
		wake: make(chan struct{}, 1),
		held: map[string]*heldLease{},
		renewTicker: func(every time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(every)
			return t.C, t.Stop
		},
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.obs == nil {
		d.obs = nopObserver{}
	}
	if d.cfg.Workers <= 0 {
		d.cfg.Workers = 64
	}
	if d.cfg.BatchSize <= 0 {
		d.cfg.BatchSize = 128
	}
	if d.cfg.Lease <= 0 {
		d.cfg.Lease = config.Duration(10 * time.Second)
	}
	if d.cfg.Poll <= 0 {
		d.cfg.Poll = config.Duration(200 * time.Millisecond)
	}
	d.router.Store(r)
	d.local = make(chan *store.Message, 2*d.cfg.Workers)
	return d
}

// Owner is the lease owner this dispatcher claims work as.
func (d *Dispatcher) Owner() string { return d.owner }

// Lease is how long a claim holds.
func (d *Dispatcher) Lease() time.Duration { return d.cfg.Lease.D() }

// Reserve asks for a slot in the in-process hand-off queue. When it returns
// true, the caller stores the message leased to Owner() and then calls
// Submit, or Unreserve if the message was not stored. When it returns
// false the caller stores the message unleased and Claim finds it.
func (d *Dispatcher) Reserve() bool {
	if d.reserved.Add(1) > int64(cap(d.local)) {
		d.reserved.Add(-1)
		return false
	}
	return true
}

// Unreserve gives back a slot from Reserve.
func (d *Dispatcher) Unreserve() { d.reserved.Add(-1) }

// Submit hands a message stored leased to this dispatcher straight to it.
// It never blocks: Reserve guaranteed the room.
func (d *Dispatcher) Submit(m *store.Message) {
	d.hold(m.ID, d.leaseEnd(m, d.now()))
	select {
	case d.local <- m:
	default:
		// Unreachable while callers pair Reserve with Submit; if it ever
		// happens the lease expires and Claim picks the message up.
		d.unhold(m.ID)
		d.reserved.Add(-1)
		d.log.Error("dispatch hand-off queue full; message left to the claim loop", "id", m.ID)
	}
}

// Router returns the router in use.
func (d *Dispatcher) Router() *Router { return d.router.Load() }

// SetRouter swaps the router; messages already being processed finish with
// the old one.
func (d *Dispatcher) SetRouter(r *Router) { d.router.Store(r) }

// Wake makes an idle dispatcher look for work now (after an enqueue).
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run claims and processes work until ctx is done, then waits for in-flight
// attempts to finish and releases the leases it still holds.
func (d *Dispatcher) Run(ctx context.Context) error {
	sem := make(chan struct{}, d.cfg.Workers)
	timer := time.NewTimer(0)
	defer timer.Stop()
	// Leases are renewed until the last in-flight message is recorded,
	// which at shutdown is after ctx is done.
	stopRenew := make(chan struct{})
	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		d.renewLoop(stopRenew)
	}()
	for {
		select {
		case <-ctx.Done():
			d.stopping.Store(true)
			d.inflight.Wait()
			close(stopRenew)
			<-renewDone
			// A fresh context: the run context is already cancelled, and
			// releasing leases is what lets a restart pick the work up at once.
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := d.store.Release(rctx, d.owner); err != nil {
				return fmt.Errorf("release leases: %w", err)
			}
			return nil
		case <-timer.C:
		case <-d.wake:
		case m := <-d.local:
			d.reserved.Add(-1)
			d.start(ctx, sem, m)
			// Take whatever else was handed over, while workers are free.
			for drained := false; !drained; {
				select {
				case m := <-d.local:
					d.reserved.Add(-1)
					d.start(ctx, sem, m)
				default:
					drained = true
				}
			}
			continue
		}
		d.flushSilent()
		// Claim in batches: when most workers are busy, wait for them to
		// free up (each finished worker wakes the loop) rather than claiming
		// a message at a time.
		lowWater := max(1, min(d.cfg.Workers, d.cfg.BatchSize)/4)
		for ctx.Err() == nil {
			free := cap(sem) - len(sem)
			if free < lowWater && len(sem) > 0 {
				break
			}
			limit := min(free, d.cfg.BatchSize)
			claimedAt := d.now()
			msgs, err := d.claim(ctx, store.ClaimParams{
				Owner: d.owner, Lease: d.cfg.Lease.D(), Limit: limit, Now: claimedAt,
			})
			if err != nil {
				if ctx.Err() == nil {
					d.claimFailed(err)
				}
				break
			}
			d.claimSucceeded()
			d.moreDue.Store(len(msgs) == limit)
			for _, m := range msgs {
				d.hold(m.ID, d.leaseEnd(m, claimedAt))
			}
			for _, m := range msgs {
				d.start(ctx, sem, m)
			}
			if len(msgs) < limit {
				break // drained what is due
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(d.claimWait())
	}
}

// start runs Process for m on a worker, waiting for a free one. m is held
// (see hold) until Process returns.
func (d *Dispatcher) start(_ context.Context, sem chan struct{}, m *store.Message) {
	sem <- struct{}{}
	d.inflight.Add(1)
	go func() {
		defer func() {
			d.unhold(m.ID)
			<-sem
			d.inflight.Done()
			if d.moreDue.Load() {
				d.Wake()
			}
		}()
		d.Process(m)
	}()
}

// Process takes one claimed message one step further and records the result.
// It is exported for tests that drive the dispatcher without Run.
func (d *Dispatcher) Process(m *store.Message) {
	// Sends are not cut short by shutdown: an attempt that reached the
	// provider must be recorded, and each send is bounded by send_timeout.
	ctx := context.Background()
	t := d.step(ctx, m)
	if d.log.Enabled(ctx, slog.LevelDebug) {
		d.logStep(m, t)
	}
	observe(d.obs, m, t)
	if err := d.advance(ctx, t); err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			d.log.Warn("lease lost while processing message; attempts were recorded", "id", m.ID)
			return
		}
		d.log.Error("record transition", "id", m.ID, "err", err)
	} else if t.Status == store.StatusDelivered && store.IsFallback(t.Channel, m.Route) {
		d.degraded(ctx, m, t)
	}
	d.flushSilent()
}

// degraded reports the degraded event of a message this step delivered at
// once on a fallback channel. The failover reasons are this step's
// attempts, or, when earlier steps were recorded before, the stored history.
func (d *Dispatcher) degraded(ctx context.Context, m *store.Message, t *store.Transition) {
	d.obs.Degraded(t.Channel, m.Policy)
	attempts := t.Attempts
	if m.Attempts > 0 {
		if full, err := d.store.Get(ctx, m.ID); err == nil {
			attempts = full.History
		}
	}
	logDegraded(d.log, m.ID, t.Channel, m.Policy, attempts)
}

// logStep logs each attempt of a step. Addresses are masked; bodies are
// never logged.
func (d *Dispatcher) logStep(m *store.Message, t *store.Transition) {
	r := d.router.Load()
	for _, a := range t.Attempts {
		kind := ""
		if l := r.Lane(a.Channel); l != nil {
			kind = string(l.Kind)
		}
		d.log.Debug("attempt", "id", m.ID, "seq", a.Seq, "channel", a.Channel, "status", a.Status,
			"to", pii.Address{Kind: kind, Value: AddressFor(m.To, channels.Kind(kind))},
			"error_class", a.ErrorClass, "failover_reason", a.Reason, "ambiguous", a.Ambiguous)
	}
	d.log.Debug("message step", "id", m.ID, "status", t.Status, "channel", t.Channel, "step", t.Step, "next_at", t.NextAt)
}

// step decides what happens to m now. It calls at most the channels needed
// to get the message accepted (or to exhaust the route) and returns the
// transition to record.
func (d *Dispatcher) step(ctx context.Context, m *store.Message) *store.Transition {
	r := d.router.Load()
	now := d.now()
	pol := r.Policy(m.Policy)
	if pol == nil {
		// The policy was removed by a reload; the message keeps its route
		// and fails over on every trigger.
		pol = &config.Policy{Name: m.Policy, Route: m.Route, FailoverOn: config.AllTriggers}
	}
	t := &store.Transition{
		MessageID: m.ID, Owner: d.owner, Now: now,
		Status: m.Status, Channel: m.Channel, Step: m.Step, Tries: m.Tries, LastError: m.LastError,
	}
	seq := m.Attempts

	if m.Status.Final() {
		// A receipt finished it after it was claimed: nothing to do but
		// give the lease back.
		t.NextAt = time.Time{}
		return t
	}
	if !m.ExpiresAt.IsZero() && !now.Before(m.ExpiresAt) {
		t.NextAt = time.Time{}
		if c := m.Current; c != nil && c.Status == store.AttemptSent && c.EndedAt.IsZero() && c.Step == m.Step {
			// A provider accepted it and no receipt came: the message
			// stays sent (it may well have arrived), and we stop waiting.
			c.EndedAt = now
			t.Attempts = append(t.Attempts, *c)
			t.LastError = fmt.Sprintf("ttl passed with no delivery receipt from %s, which accepted the message", c.Channel)
			return t
		}
		t.Status = store.StatusExpired
		t.LastError = "ttl passed before any channel accepted the message"
		return t
	}

	// The current attempt was accepted and is waiting on its receipt: we
	// are here because its deadline passed or a failure receipt arrived.
	if c := m.Current; c != nil && c.Step == m.Step && c.EndedAt.IsZero() &&
		(c.Status == store.AttemptSent || c.Status == store.AttemptUndelivered) {
		trigger := config.TriggerNoReceipt
		rh := r.lanes[c.Channel].ReceiptHealth()
		timeout := pol.ReceiptTimeout[c.Channel].D()
		switch {
		case c.Status == store.AttemptUndelivered:
			trigger = config.TriggerUndelivered
			rh.abandon(c.MessageID, c.Seq)
		case timeout > 0 && now.Before(c.StartedAt.Add(timeout)):
			// Woken before its deadline: the channel went silent and its
			// waiting messages were made due (see flushSilent).
			if !rh.Silent() || !pol.FailsOverOn(config.TriggerSilent) {
				t.NextAt = d.capExpiry(m, c.StartedAt.Add(timeout))
				return t
			}
			trigger = config.TriggerSilent
			rh.abandon(c.MessageID, c.Seq)
		default:
			rh.miss(c.MessageID, c.Seq, now)
		}
		if !pol.FailsOverOn(trigger) {
			if trigger == config.TriggerUndelivered {
				c.EndedAt = now
				t.Attempts = append(t.Attempts, *c)
				t.Status = store.StatusFailed
				t.LastError = fmt.Sprintf("%s reported the message undelivered: %s", c.Channel, c.Error)
				return t
			}
			t.NextAt = time.Time{} // keep waiting for a receipt, with no deadline
			return t
		}
		c.Reason, c.EndedAt = string(trigger), now
		switch trigger {
		case config.TriggerNoReceipt:
			t.LastError = fmt.Sprintf("%s: no delivered receipt within %s", c.Channel, timeout)
		case config.TriggerSilent:
			c.Error = rh.SilentDetail()
			t.LastError = fmt.Sprintf("%s: %s; failed over without waiting out the %s receipt deadline", c.Channel, c.Error, timeout)
		default:
			t.LastError = fmt.Sprintf("%s: provider reported undelivered: %s", c.Channel, c.Error)
		}
		t.Attempts = append(t.Attempts, *c)
		t.Step, t.Tries = m.Step+1, 0
	}

	lastErr := t.LastError
	for t.Step < len(m.Route) {
		name := m.Route[t.Step]
		dec := r.decide(pol, name, m.To, d.now())
		if !dec.Use {
			switch dec.Reason {
			case "wait_rate_limited":
				t.Status = maxStatus(t.Status, store.StatusSending)
				t.NextAt = d.capExpiry(m, r.lanes[name].PausedUntil())
				return t
			case "wait_unhealthy", "wait_disabled", "wait_breaker":
				// The policy does not fail over on this trigger: wait for
				// the channel, bounded by the message's TTL.
				t.Status = maxStatus(t.Status, store.StatusSending)
				t.NextAt = d.capExpiry(m, now.Add(waitRetry))
				return t
			}
			seq++
			if dec.Reason == "silent" && !d.stopping.Load() && d.leaseOK(m.ID) {
				lane := r.lanes[name]
				if lane.receipts.takeCanary(AddressFor(m.To, lane.Kind)) {
					// A canary: the message also goes through the silent
					// channel, in parallel with its fallback; its receipt
					// tells whether the channel is back.
					if done := d.canary(ctx, t, m, pol, lane, seq); done {
						return t
					}
					t.Step, t.Tries = t.Step+1, 0
					continue
				}
			}
			t.Attempts = append(t.Attempts, store.Attempt{
				MessageID: m.ID, Seq: seq, Step: t.Step, Channel: name,
				Status: store.AttemptSkipped, Reason: dec.Reason, Error: dec.Detail,
				StartedAt: now, EndedAt: now,
			})
			t.Step, t.Tries = t.Step+1, 0
			continue
		}

		if d.stopping.Load() {
			// Shutting down: leave the rest of the route to the next
			// process instead of holding shutdown for more provider calls.
			t.Status = maxStatus(t.Status, store.StatusSending)
			t.NextAt = now
			return t
		}
		if !d.leaseOK(m.ID) {
			// The lease could not be renewed (the store is unreachable, or
			// another instance took the message): a send now could be a
			// second one. Leave the message to whoever holds it next; if
			// the lease is still ours, Advance makes it due at once.
			d.log.Warn("lease not confirmed; message left to the next claim without sending", "id", m.ID)
			t.NextAt = now
			return t
		}
		lane := r.lanes[name]
		if wait := lane.reserve(d.now()); wait > 0 {
			// Over the channel's configured rate: wait in the queue.
			t.Status = maxStatus(t.Status, store.StatusSending)
			t.NextAt = d.capExpiry(m, now.Add(wait))
			return t
		}
		seq++
		a := store.Attempt{MessageID: m.ID, Seq: seq, Step: t.Step, Channel: name, StartedAt: d.now()}
		if m.Reclaimed && t.Step == m.Step {
			// A previous process claimed this message and died before
			// recording what it did: it may have sent on this channel.
			a.Ambiguous = true
			a.Info = "a previous gateway process stopped mid-send; this may be a duplicate"
		}
		res, err := d.send(ctx, lane, m)
		end := d.now()
		a.EndedAt = end
		if err == nil {
			a.Status, a.ProviderID = store.AttemptSent, res.ProviderID
			a.Info = joinInfo(a.Info, res.Info)
			a.EndedAt = time.Time{}
			t.Channel, t.Tries = name, 0
			t.Status = maxStatus(t.Status, store.StatusSent)
			switch timeout := pol.ReceiptTimeout[name].D(); {
			case res.Delivered:
				a.Status, a.DeliveredAt, a.EndedAt = store.AttemptDelivered, end, end
				t.Status = store.StatusDelivered
				t.NextAt = time.Time{}
			case timeout > 0 && pol.FailsOverOn(config.TriggerNoReceipt):
				t.NextAt = d.capExpiry(m, end.Add(timeout))
				how := byStep
				if !pol.FailsOverOn(config.TriggerSilent) {
					how = byStepStay
				}
				lane.receipts.expect(m.ID, seq, a.StartedAt, a.StartedAt.Add(timeout), how)
			default:
				// No receipt deadline: wait for a receipt until the TTL,
				// then stop waiting (see the expiry case above).
				t.NextAt = m.ExpiresAt
				if timeout > 0 {
					// Still judged against the deadline, by the receipt
					// breaker alone: no no_receipt step will come.
					lane.receipts.expect(m.ID, seq, a.StartedAt, a.StartedAt.Add(timeout), bySweep)
				}
			}
			t.Attempts = append(t.Attempts, a)
			return t
		}
		if errors.Is(err, errBreakerOpen) {
			// Refused by the breaker (open, or half-open with its trial in
			// flight): no provider call was made.
			a.Status, a.Reason, a.Error = store.AttemptSkipped, "breaker_open", "the circuit breaker is open after repeated failures"
			t.Attempts = append(t.Attempts, a)
			if !pol.FailsOverOn(config.TriggerBreakerOpen) {
				t.NextAt = d.capExpiry(m, now.Add(waitRetry))
				t.Status = maxStatus(t.Status, store.StatusSending)
				return t
			}
			t.Step, t.Tries = t.Step+1, 0
			continue
		}

		class := channels.ClassOf(err)
		a.Status, a.ErrorClass, a.Error = store.AttemptFailed, string(class), err.Error()
		lastErr = fmt.Sprintf("%s: %s", name, err)
		t.LastError = lastErr
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
			t.NextAt = d.capExpiry(m, end.Add(wait))
			return t
		case channels.Transient:
			t.Tries++
			if t.Tries < max(lane.Config.Retry.Attempts, 1) {
				t.Attempts = append(t.Attempts, a)
				t.NextAt = d.capExpiry(m, end.Add(backoff(lane.Config.Retry, t.Tries, d.rnd)))
				return t
			}
		case channels.Ambiguous:
			a.Ambiguous = true
			if pol.OnAmbiguous == config.AmbiguousAssumeSent {
				// The policy prefers "maybe nothing" to "maybe twice":
				// count it as sent and let the receipt deadline decide.
				a.Status, a.EndedAt = store.AttemptSent, time.Time{}
				a.Info = joinInfo(a.Info, "assumed sent: the provider may have accepted it")
				t.Attempts = append(t.Attempts, a)
				t.Channel, t.Tries = name, 0
				t.Status = maxStatus(t.Status, store.StatusSent)
				t.NextAt = m.ExpiresAt
				if timeout := pol.ReceiptTimeout[name].D(); timeout > 0 && pol.FailsOverOn(config.TriggerNoReceipt) {
					t.NextAt = d.capExpiry(m, end.Add(timeout))
				}
				return t
			}
		}
		// Permanent, misconfigured, ambiguous, or transient with the retry
		// budget spent: this channel is done with the message.
		if !pol.FailsOverOn(config.TriggerError) {
			t.Attempts = append(t.Attempts, a)
			t.Status = store.StatusFailed
			t.NextAt = time.Time{}
			return t
		}
		a.Reason = string(config.TriggerError)
		t.Attempts = append(t.Attempts, a)
		t.Step, t.Tries = t.Step+1, 0
	}

	t.Status = store.StatusFailed
	t.NextAt = time.Time{}
	if lastErr == "" {
		lastErr = "no channel in the route could take the message (see attempts)"
	}
	t.LastError = "route exhausted: " + lastErr
	return t
}

func (d *Dispatcher) send(ctx context.Context, lane *Lane, m *store.Message) (channels.Result, error) {
	timeout := lane.Config.SendTimeout.D()
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg := &channels.Message{
		ID: m.ID, To: AddressFor(m.To, lane.Kind), Body: m.Body, Subject: m.Subject, HTML: m.HTML, Metadata: m.Metadata,
	}
	return lane.send(func() (channels.Result, error) {
		start := time.Now()
		res, err := lane.Channel.Send(sctx, msg)
		if err != nil && sctx.Err() != nil && channels.ClassOf(err) == channels.Transient {
			// Our deadline cut the call short; unless the channel says the
			// request was never written, the provider may have it.
			err = &channels.Error{Class: channels.Ambiguous, Err: fmt.Errorf("send timed out after %s: %w", timeout, err)}
		}
		outcome := string(channels.ClassOf(err))
		switch {
		case err == nil && res.Delivered:
			outcome = "delivered"
		case err == nil:
			outcome = "sent"
		}
		d.obs.Attempt(lane.Name, outcome, time.Since(start))
		return res, err
	})
}

// canary sends m through lane, a silent channel, as a canary: recorded as
// an attempt whose reason is "canary", with no wait for its receipt; the
// caller goes on down the route. It returns true when the transition is
// complete (the provider reported the message delivered at once).
func (d *Dispatcher) canary(ctx context.Context, t *store.Transition, m *store.Message, pol *config.Policy, lane *Lane, seq int) bool {
	a := store.Attempt{
		MessageID: m.ID, Seq: seq, Step: t.Step, Channel: lane.Name, StartedAt: d.now(),
		Reason: "canary", Info: "canary",
	}
	if wait := lane.reserve(a.StartedAt); wait > 0 {
		// Over the channel's rate: no canary this time.
		a.Status, a.EndedAt, a.Reason, a.Error = store.AttemptSkipped, a.StartedAt, "silent", lane.receipts.SilentDetail()
		a.Info = ""
		t.Attempts = append(t.Attempts, a)
		return false
	}
	res, err := d.send(ctx, lane, m)
	end := d.now()
	a.EndedAt = end
	switch {
	case err != nil:
		a.Status, a.ErrorClass, a.Error = store.AttemptFailed, string(channels.ClassOf(err)), err.Error()
		if errors.Is(err, errBreakerOpen) {
			a.Status, a.ErrorClass, a.Error = store.AttemptSkipped, "", "the circuit breaker is open after repeated failures"
		}
		lane.receipts.canaryFailed()
	case res.Delivered:
		a.Status, a.ProviderID, a.DeliveredAt = store.AttemptDelivered, res.ProviderID, end
		a.Info = joinInfo(a.Info, res.Info)
		t.Attempts = append(t.Attempts, a)
		t.Channel, t.Status, t.NextAt = lane.Name, store.StatusDelivered, time.Time{}
		return true
	default:
		a.Status, a.ProviderID = store.AttemptSent, res.ProviderID
		a.Info = joinInfo(a.Info, res.Info)
		timeout := pol.ReceiptTimeout[lane.Name].D()
		if timeout <= 0 {
			timeout = lane.receipts.canaryTimeout()
		}
		if timeout > 0 {
			lane.receipts.expect(m.ID, seq, a.StartedAt, a.StartedAt.Add(timeout), asCanary)
		}
	}
	t.Attempts = append(t.Attempts, a)
	return false
}

// flushSilent makes the messages that were waiting for a receipt on a
// channel that went silent due now, so they fail over at once (trigger
// silent) instead of each waiting out its deadline. Stores that cannot
// (no store.DueMaker) leave them to their deadline.
func (d *Dispatcher) flushSilent() {
	r := d.router.Load()
	for _, l := range r.lanes {
		refs := l.receipts.takeFlush()
		if len(refs) == 0 {
			continue
		}
		dm, ok := d.store.(store.DueMaker)
		if !ok {
			d.log.Warn("store cannot make waiting messages due; they fail over at their receipt deadline", "channel", l.Name, "messages", len(refs))
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n, err := dm.MakeDue(ctx, refs, d.now())
		cancel()
		if err != nil {
			d.log.Error("fail over messages waiting on a silent channel", "channel", l.Name, "err", err)
			continue
		}
		d.log.Warn("messages waiting on a silent channel fail over now", "channel", l.Name, "messages", n)
		d.Wake()
	}
}

// capExpiry keeps a message from waiting past its TTL: it is looked at
// again when it expires, and ends as expired then.
func (d *Dispatcher) capExpiry(m *store.Message, at time.Time) time.Time {
	if !m.ExpiresAt.IsZero() && m.ExpiresAt.Before(at) {
		return m.ExpiresAt
	}
	return at
}

func maxStatus(a, b store.Status) store.Status {
	if b.Rank() > a.Rank() {
		return b
	}
	return a
}

func joinInfo(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
