package callbacks

import (
	"context"
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/switchboard-gw/switchboard/store"
)

// Per-destination isolation.
//
// A destination is a callback_url's scheme, host and port. Each has its
// own cap on POSTs in flight (PerHost) and its own circuit breaker, so one
// app whose endpoint hangs or fails holds at most PerHost of the shared
// workers, and only until its breaker opens: then its callbacks are handed
// back to the store untried (DeferCallbacks), due when the breaker lets a
// probe through, and take no worker at all meanwhile. The breaker stays
// open BreakerOpen the first time, twice that each time the probe fails
// too, up to maxRetry: the destination's own backoff, on top of each
// callback's.
//
// What is claimed but cannot go now waits in memory only briefly, in its
// destination's queue, while its lease holds (it is handed back at
// shutdown, and a crash leaves it to the lease); the rest goes back to the
// store at once with the time it may go (next_at), so a restart or another
// instance finds it there, due when it should be. A destination's queue
// holds what it is expected to take within queueWindow at the pace it has
// shown (queueCap): a fast, healthy receiver gets a deep queue, so each
// try that ends starts the next at once and the claim loop, woken by it,
// refills the queue: callbacks flow at the receiver's speed, not one batch
// per poll. A destination not yet measured, slow, or hung (a try in flight
// counts for as long as it has run) gets PerHost, as before; a queue that
// was deep when its receiver stalled is cut back within queueWindow (Run's
// trim tick), the excess handed back, so it does not keep the claim room
// from other destinations. A destination's
// state (breaker, backoff) is this process's: with several instances each
// applies its own cap, so a destination sees at most PerHost × instances.

// IsolationObserver, when Obs implements it too, is told what per-
// destination isolation does (metrics; never labelled by host, as hosts are
// unbounded).
type IsolationObserver interface {
	// CallbacksDeferred: n claimed callbacks were handed back untried, for
	// reason "host_busy" or "breaker_open".
	CallbacksDeferred(reason string, n int)
	// CallbackBreakerOpened: a destination's breaker opened.
	CallbackBreakerOpened()
	// CallbackHostsOpen: n destinations have a breaker that is not closed.
	CallbackHostsOpen(n int)
}

// Deferral reasons (IsolationObserver).
const (
	deferBusy    = "host_busy"
	deferBreaker = "breaker_open"
)

const (
	// leaseMargin is kept, of a waiting callback's lease, beyond one POST
	// and recording it: a callback that waited longer goes back to the
	// store rather than risk its lease passing to another owner mid-POST.
	leaseMargin = 5 * time.Second
	// hostIdle is how long a destination with nothing to do keeps its
	// state; after that it is forgotten (an open breaker with it).
	hostIdle = 15 * time.Minute
	// queueWindow is how far ahead a destination's queue holds work: what
	// it is expected to take in this time (queueCap), and how often a
	// queue is cut back when its receiver slows (Run's trim tick).
	queueWindow = 250 * time.Millisecond
	// minBusyDelay is the least a callback handed back for a busy fast
	// destination waits in the store: enough that the claim loop does not
	// take it straight back.
	minBusyDelay = 5 * time.Millisecond
)

// host is one destination's state; all of it, the breaker included, is
// guarded by Sender.mu.
type host struct {
	key     string
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]
	// waiting are claimed callbacks for this host that have not started.
	waiting  []waitingCallback
	inflight int
	started  map[int64]time.Time // by callback ID: tries in flight
	// opens counts the breaker's openings since it was last closed;
	// reopenAt is when the next probe may go (zero: closed).
	opens    int
	reopenAt time.Time
	latency  time.Duration // moving average of a try's duration
	measured bool          // a try has ended: latency means something
	lastErr  string        // the last failed try's error, for a give-up
	lastUsed time.Time
}

type waitingCallback struct {
	cb        store.Callback
	claimedAt time.Time
}

// hostKey is the destination of a callback URL: scheme://host:port, the
// port written out, the host lowercased. A URL that does not parse is its
// own destination; its POST fails as a permanent error.
func hostKey(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		default:
			port = "80"
		}
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// errExcluded is what a try that says nothing about the destination (the
// address policy refused it; no connection was made) tells the breaker.
var errExcluded = errors.New("not the destination's doing")

// hostFor returns key's state, made on first use. s.mu is held.
func (s *Sender) hostFor(key string, now time.Time) *host {
	h := s.hosts[key]
	if h == nil {
		h = &host{key: key, started: map[int64]time.Time{}}
		h.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        key,
			MaxRequests: 1,
			Timeout:     s.BreakerOpen,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(s.BreakerFailures) },
			IsExcluded:  func(err error) bool { return errors.Is(err, errExcluded) },
			// Called inside the breaker's methods, which are only called
			// with s.mu held.
			OnStateChange: func(_ string, from, to gobreaker.State) { s.breakerChanged(h, from, to) },
		})
		s.hosts[key] = h
	}
	h.lastUsed = now
	return h
}

// breakerChanged keeps the host's backoff and the counts in step with its
// breaker. s.mu is held.
func (s *Sender) breakerChanged(h *host, from, to gobreaker.State) {
	now := s.Now()
	switch to {
	case gobreaker.StateOpen:
		h.opens++
		open := s.BreakerOpen
		for i := 1; i < h.opens && open < maxRetry; i++ {
			open *= 2
		}
		open = min(open, maxRetry)
		h.reopenAt = now.Add(open)
		s.Logger.Warn("callback destination failing: its callbacks wait", "destination", h.key,
			"for", open.String(), "err", h.lastErr)
		if o, ok := s.Obs.(IsolationObserver); ok {
			o.CallbackBreakerOpened()
		}
	case gobreaker.StateClosed:
		h.opens, h.reopenAt = 0, time.Time{}
		s.Logger.Info("callback destination recovered", "destination", h.key)
	}
	switch {
	case from == gobreaker.StateClosed && to != gobreaker.StateClosed:
		s.hostsOpen++
	case from != gobreaker.StateClosed && to == gobreaker.StateClosed:
		s.hostsOpen--
	default:
		return
	}
	if o, ok := s.Obs.(IsolationObserver); ok {
		o.CallbackHostsOpen(s.hostsOpen)
	}
}

// blockedUntil returns when h may be tried again, and zero when it may be
// now: its breaker is open until reopenAt; half-open with its probe in
// flight, when the probe should be answered (busyDelay). s.mu is held.
func (s *Sender) blockedUntil(h *host, now time.Time) time.Time {
	if now.Before(h.reopenAt) {
		return h.reopenAt
	}
	if h.inflight > 0 && h.breaker.State() == gobreaker.StateHalfOpen {
		return now.Add(s.busyDelay(h, now))
	}
	return time.Time{}
}

// pace is how long a try to h is expected to take: its moving average,
// or the longest a try in flight has run so far, whichever is more (a hung
// receiver's pace grows by the second). Zero when h is not measured yet.
// s.mu is held.
func (s *Sender) pace(h *host, now time.Time) time.Duration {
	d := h.latency
	for _, at := range h.started {
		d = max(d, now.Sub(at))
	}
	return d
}

// queueCap is how many claimed callbacks may wait in memory for h: what
// its PerHost workers finish in queueWindow at its pace, at least PerHost
// and at most 2×Workers (all Run holds). A destination not measured yet
// gets PerHost: it may be a hung one. s.mu is held.
func (s *Sender) queueCap(h *host, now time.Time) int {
	d := s.pace(h, now)
	if !h.measured {
		return s.PerHost
	}
	most := 2 * s.Workers
	if d <= 0 {
		return max(most, s.PerHost)
	}
	n := int(min(int64(s.PerHost)*int64(queueWindow/d), int64(most)))
	return max(n, s.PerHost)
}

// busyDelay is how long a callback for h, its queue full, is handed back
// for. A destination keeping a deep queue (fast and healthy) is due again
// about when its queue has drained, so it keeps flowing; any other about
// two tries' time, at least queueWindow (or Poll if shorter), so a slow or
// hung one's callbacks do not come back to be claimed and handed back over
// and over. At most Timeout. s.mu is held.
func (s *Sender) busyDelay(h *host, now time.Time) time.Duration {
	d := s.pace(h, now)
	if s.queueCap(h, now) > s.PerHost {
		ahead := len(h.waiting) + h.inflight
		drain := d * time.Duration(ahead/s.PerHost+1)
		return min(max(drain, minBusyDelay), s.Timeout)
	}
	return min(max(2*d, min(s.Poll, queueWindow)), s.Timeout)
}

// handBack is callbacks to return to the store untried, by due time.
type handBack struct {
	at     map[time.Time][]int64
	counts map[string]int // by reason, for the observer
}

func (b *handBack) add(cb store.Callback, at time.Time, reason string) {
	if b.at == nil {
		b.at, b.counts = map[time.Time][]int64{}, map[string]int{}
	}
	b.at[at] = append(b.at[at], cb.ID)
	if reason != "" {
		b.counts[reason]++
	}
}

// handBack writes b to the store (not under s.mu: it is a store write).
func (s *Sender) handBack(b *handBack) {
	if b.at == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for at, ids := range b.at {
		if err := s.Store.DeferCallbacks(ctx, s.Owner, ids, at); err != nil {
			// Their leases run out and they are claimed again: late, not
			// lost, if a claim comes then.
			s.Logger.Error("hand back callbacks", "n", len(ids), "err", err)
			s.wakeAt(s.Now().Add(s.Lease))
			continue
		}
		// Only once written: a claim woken before would find them still
		// leased, and nothing would wake the next.
		s.wakeAt(at)
	}
	if o, ok := s.Obs.(IsolationObserver); ok {
		for reason, n := range b.counts {
			o.CallbacksDeferred(reason, n)
		}
	}
}

// wakeAt makes Run claim at t, or a little after: what was handed back
// (or is to be retried) is due then, and the poll may be much later. Every
// time is kept until its wake fires, not only the earliest: the claim at
// an earlier one finds a later one's callbacks not yet due, and if it
// hands nothing back and no try ends after, nothing else would claim them
// before the poll. Times are rounded up to a slot (wakeSlot), so those
// close together share one wake and the kept times stay few.
func (s *Sender) wakeAt(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t = s.wakeSlot(t, s.Now())
	i, found := slices.BinarySearchFunc(s.wakes, t, time.Time.Compare)
	if found {
		return
	}
	s.wakes = slices.Insert(s.wakes, i, t)
	if i == 0 {
		s.armWake()
	}
}

// wakeSlot rounds t up to a multiple of a slot that grows with how far
// ahead t is: wakeGap, doubled while it is at most a sixteenth of that
// (a wake a little late for a callback due much later) and at most half
// the poll (which would claim it by then anyway).
func (s *Sender) wakeSlot(t, now time.Time) time.Time {
	g, ahead := wakeGap, t.Sub(now)
	for 32*g <= ahead && 4*g <= s.Poll {
		g *= 2
	}
	r := time.Duration(t.UnixNano() % int64(g))
	if r < 0 {
		r += g
	}
	if r == 0 {
		return t
	}
	return t.Add(g - r)
}

// armWake sets the timer for the first of s.wakes. s.mu is held.
func (s *Sender) armWake() {
	if s.stopWake != nil {
		s.stopWake()
	}
	at := s.wakes[0]
	s.stopWake = s.afterFunc(max(at.Sub(s.Now()), 0), func() { s.wakeFired(at) })
}

// wakeFired is the timer set for at: the times due by now (at least at,
// whatever the clock says) are done with, the timer is set for the next,
// and Run claims.
func (s *Sender) wakeFired(at time.Time) {
	s.mu.Lock()
	now := s.Now()
	if now.Before(at) {
		now = at
	}
	n := 0
	for n < len(s.wakes) && !s.wakes[n].After(now) {
		n++
	}
	s.wakes = s.wakes[n:]
	// n is 0 when an earlier timer's fire already took these (this one
	// was stopped too late): the timer set then stands.
	if n > 0 && len(s.wakes) > 0 {
		s.armWake()
	}
	s.mu.Unlock()
	s.Wake()
}

// route places claimed callbacks: given up when their API key is gone,
// handed back when their destination is blocked or its queue is full, else
// waiting for pump to start them.
func (s *Sender) route(due []store.Callback) {
	now := s.Now()
	var back handBack
	var gaveUp []store.CallbackResult
	s.mu.Lock()
	for _, cb := range due {
		if len(s.Secrets(cb.Scope)) == 0 {
			gaveUp = append(gaveUp, s.result(cb, &KeyGoneError{Scope: cb.Scope}, now))
			continue
		}
		h := s.hostFor(hostKey(cb.URL), now)
		switch until := s.blockedUntil(h, now); {
		case !until.IsZero() && now.Sub(cb.CreatedAt) >= s.Horizon:
			err := &BreakerOpenError{Destination: h.key, LastError: h.lastErr}
			gaveUp = append(gaveUp, s.result(cb, err, now))
		case !until.IsZero():
			back.add(cb, until, deferBreaker)
		case len(h.waiting) < s.queueCap(h, now):
			h.waiting = append(h.waiting, waitingCallback{cb: cb, claimedAt: now})
			s.held++
		default:
			back.add(cb, now.Add(s.busyDelay(h, now)), deferBusy)
		}
	}
	s.mu.Unlock()
	s.pump()
	s.handBack(&back)
	for _, r := range gaveUp {
		s.finish(r)
	}
}

// pump starts waiting callbacks while workers are free, one destination
// after another (each pass starts at most one per destination), none past
// its destination's cap or breaker.
func (s *Sender) pump() {
	now := s.Now()
	var back handBack
	maxWait := s.Lease - s.Timeout - leaseMargin
	s.mu.Lock()
	// A queue longer than its destination now merits (its receiver slowed
	// or hung since) gives back its newest: they would only wait here,
	// holding claim room other destinations could use.
	for _, h := range s.hosts {
		if limit := s.queueCap(h, now); len(h.waiting) > limit {
			at := now.Add(s.busyDelay(h, now))
			for _, w := range h.waiting[limit:] {
				back.add(w.cb, at, deferBusy)
			}
			s.held -= len(h.waiting) - limit
			h.waiting = h.waiting[:limit:limit]
		}
	}
	for progress := true; progress && !s.stopping; {
		progress = false
		for _, h := range s.hosts {
			if s.inflight >= s.Workers {
				break
			}
			if len(h.waiting) == 0 || h.inflight >= s.PerHost {
				continue
			}
			if until := s.blockedUntil(h, now); !until.IsZero() {
				s.handBackWaiting(h, &back, until, deferBreaker)
				continue
			}
			w := h.waiting[0]
			if now.Sub(w.claimedAt) > maxWait {
				h.waiting = h.waiting[1:]
				s.held--
				back.add(w.cb, now, "")
				progress = true
				continue
			}
			done, err := h.breaker.Allow()
			if err != nil {
				// Open, or half-open with its probe taken: blockedUntil
				// knows when next.
				at := now.Add(s.Poll)
				if until := s.blockedUntil(h, now); until.After(at) {
					at = until
				}
				s.handBackWaiting(h, &back, at, deferBreaker)
				continue
			}
			h.waiting = h.waiting[1:]
			h.inflight++
			h.started[w.cb.ID] = now
			s.inflight++
			s.wg.Add(1)
			go s.try(h, w.cb, done)
			progress = true
		}
	}
	s.mu.Unlock()
	s.handBack(&back)
}

// handBackWaiting moves every callback waiting for h to b. s.mu is held.
func (s *Sender) handBackWaiting(h *host, b *handBack, at time.Time, reason string) {
	for _, w := range h.waiting {
		b.add(w.cb, at, reason)
	}
	s.held -= len(h.waiting)
	h.waiting = nil
}

// try makes one try on a worker and tells the destination's breaker.
func (s *Sender) try(h *host, cb store.Callback, done func(error)) {
	defer s.wg.Done()
	start := s.Now()
	err := s.deliver(cb)
	took := s.Now().Sub(start)
	s.mu.Lock()
	if err != nil && !errors.Is(err, errExcluded) {
		h.lastErr = err.Error()
	}
	done(err)
	h.inflight--
	delete(h.started, cb.ID)
	if h.measured {
		h.latency = (3*h.latency + took) / 4
	} else {
		h.latency, h.measured = took, true
	}
	h.lastUsed = s.Now()
	s.inflight--
	s.held--
	s.mu.Unlock()
	s.pump()
	// A worker is free, and this callback's message may have its next one
	// due: claim now rather than at the next poll.
	s.Wake()
}

// releaseWaiting hands every waiting callback back, due now: at shutdown,
// so the next start (or another instance) need not wait for their leases.
func (s *Sender) releaseWaiting() {
	now := s.Now()
	var back handBack
	s.mu.Lock()
	for _, h := range s.hosts {
		s.handBackWaiting(h, &back, now, "")
	}
	s.mu.Unlock()
	s.handBack(&back)
}

// prune forgets destinations idle for hostIdle, so state does not grow
// with every host ever called.
func (s *Sender) prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.pruned) < time.Minute {
		return
	}
	s.pruned = now
	for key, h := range s.hosts {
		if len(h.waiting) > 0 || h.inflight > 0 || now.Sub(h.lastUsed) < hostIdle || now.Before(h.reopenAt) {
			continue
		}
		if h.breaker.State() != gobreaker.StateClosed {
			s.hostsOpen--
			if o, ok := s.Obs.(IsolationObserver); ok {
				o.CallbackHostsOpen(s.hostsOpen)
			}
		}
		delete(s.hosts, key)
	}
}
