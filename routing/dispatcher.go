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
	"github.com/switchboard-gw/switchboard/reason"
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
	// moreDue: the last claim filled its batch, or was put off while the
	// workers were busy, so more due work is likely waiting; a finishing
	// worker then wakes the claim loop.
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
	// callbackDue: DispatcherOptions.CallbackDue.
	callbackDue func()
	// spend is today's spend per channel, for budgets (spend.go).
	spend     *SpendBook
	spendErrs lograte.Limiter
}

// DispatcherOptions configures NewDispatcher.
type DispatcherOptions struct {
	Owner  string // lease owner; unique per process
	Logger *slog.Logger
	Now    func() time.Time // for tests; default time.Now
	// Observer is told about attempts, failovers and final statuses.
	Observer Observer
	// CallbackDue, if set, is called once a step of a message with a
	// callback_url is recorded: a status callback may be due now (the
	// callback sender claims at once rather than at its next poll).
	CallbackDue func()
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
	d.callbackDue = o.CallbackDue
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
	d.spend = NewSpendBook(s, d.log)
	d.SetRouter(r)
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
func (d *Dispatcher) SetRouter(r *Router) {
	if r != nil {
		r.spend = d.spend // budgets are decided on the dispatcher's book, which outlives reloads
	}
	d.router.Store(r)
}

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
	spendDone := make(chan struct{})
	go func() {
		defer close(spendDone)
		d.spendLoop(stopRenew)
	}()
	for {
		select {
		case <-ctx.Done():
			d.stopping.Store(true)
			d.inflight.Wait()
			close(stopRenew)
			<-renewDone
			<-spendDone
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
		d.claimDue(ctx, sem)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(d.claimWait())
	}
}

// claimDue claims due messages and starts them on free workers until
// nothing more is due. It claims in batches: when most workers are busy,
// it waits for them to free up (each finished worker wakes the loop)
// rather than claiming a message at a time.
func (d *Dispatcher) claimDue(ctx context.Context, sem chan struct{}) {
	lowWater := max(1, min(d.cfg.Workers, d.cfg.BatchSize)/4)
	for ctx.Err() == nil {
		free := cap(sem) - len(sem)
		if free < lowWater && len(sem) > 0 {
			// This claim (maybe a wake's) waits for workers: the next to
			// finish wakes the loop, else what is due waits for the poll.
			d.moreDue.Store(true)
			return
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
			return
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
			return // drained what is due
		}
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
	} else {
		if m.CallbackURL != "" && d.callbackDue != nil {
			d.callbackDue()
		}
		if t.Status == store.StatusDelivered && m.Status != store.StatusDelivered && store.IsFallback(t.Channel, m.Route) {
			d.degraded(ctx, m, t)
		}
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
// an attempt whose reason is reason.Canary, with no wait for its receipt; the
// caller goes on down the route. It returns true when the transition is
// complete (the provider reported the message delivered at once).
func (d *Dispatcher) canary(ctx context.Context, t *store.Transition, m *store.Message, pol *config.Policy, lane *Lane, seq int) bool {
	a := store.Attempt{
		MessageID: m.ID, Seq: seq, Step: t.Step, Channel: lane.Name, StartedAt: d.now(),
		Reason: reason.Canary, Info: "canary",
	}
	if wait := lane.reserve(a.StartedAt); wait > 0 {
		// Over the channel's rate: no canary this time.
		a.Status, a.EndedAt, a.Reason, a.Error = store.AttemptSkipped, a.StartedAt, reason.Silent, lane.receipts.SilentDetail()
		a.Info = ""
		t.Attempts = append(t.Attempts, a)
		return false
	}
	res, err := d.send(ctx, lane, m)
	end := d.now()
	a.EndedAt, a.Sender = end, res.Sender
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
		d.charge(t, lane, m, &a, res)
		t.Attempts = append(t.Attempts, a)
		t.Channel, t.Status, t.NextAt = lane.Name, store.StatusDelivered, time.Time{}
		return true
	default:
		a.Status, a.ProviderID = store.AttemptSent, res.ProviderID
		a.Info = joinInfo(a.Info, res.Info)
		d.charge(t, lane, m, &a, res)
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
// silent) instead of each waiting out its deadline.
func (d *Dispatcher) flushSilent() {
	r := d.router.Load()
	for _, l := range r.lanes {
		refs := l.receipts.takeFlush()
		if len(refs) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n, err := d.store.MakeDue(ctx, refs, d.now())
		cancel()
		if err != nil {
			d.log.Error("fail over messages waiting on a silent channel", "channel", l.Name, "err", err)
			continue
		}
		d.log.Warn("messages waiting on a silent channel fail over now", "channel", l.Name, "messages", n)
		d.Wake()
	}
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
