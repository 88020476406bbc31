package callbacks

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// Lost wakes: with the poll an hour away, every callback handed back to
// the store must have a wake set for when it is due, however its hand-back
// interleaves with other wakes, claims and tries. These tests drive Run
// with a hand-cranked clock and timers and a store in memory, so each step
// happens in a known order; nothing depends on how fast the machine is.

// wakeOutbox is a store.CallbackOutbox in memory. Each call is reported on
// events once it has taken effect.
type wakeOutbox struct {
	mu       sync.Mutex
	cbs      []*wakeCallback
	claimErr error // the next claim fails with it
	events   chan string
}

type wakeCallback struct {
	cb        store.Callback
	nextAt    time.Time
	leased    bool
	delivered bool
}

func newWakeOutbox() *wakeOutbox { return &wakeOutbox{events: make(chan string, 1000)} }

// add queues a callback for message msg, due at at.
func (o *wakeOutbox) add(msg string, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	id := int64(len(o.cbs) + 1)
	o.cbs = append(o.cbs, &wakeCallback{nextAt: at, cb: store.Callback{
		ID: id, MessageID: msg, URL: "http://app.example/hooks?m=" + msg, Scope: "shop",
		Payload: []byte(`{}`), CreatedAt: at, NextAt: at,
	}})
}

func (o *wakeOutbox) ClaimCallbacks(_ context.Context, _ string, _ time.Duration, limit int, now time.Time) ([]store.Callback, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	defer func() { o.events <- "claim" }() // after the claimed ones
	if err := o.claimErr; err != nil {
		o.claimErr = nil
		return nil, err
	}
	var out []store.Callback
	for _, c := range o.cbs {
		if len(out) < limit && !c.leased && !c.delivered && !c.nextAt.After(now) {
			c.leased = true
			out = append(out, c.cb)
			o.events <- "claimed " + c.cb.MessageID
		}
	}
	return out, nil
}

func (o *wakeOutbox) FinishCallback(_ context.Context, r store.CallbackResult) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.cbs[r.ID-1]
	c.leased = false
	c.delivered = r.Status == store.CallbackDelivered
	if !c.delivered {
		c.nextAt = r.NextAt
	}
	o.events <- "finish " + c.cb.MessageID + " " + r.Status
	return nil
}

func (o *wakeOutbox) DeferCallbacks(_ context.Context, _ string, ids []int64, next time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, id := range ids {
		c := o.cbs[id-1]
		c.leased, c.nextAt = false, next
	}
	return nil
}

func (o *wakeOutbox) Callbacks(context.Context, string) ([]store.Callback, error) { return nil, nil }

// manualTimers is a clock and its timers, moved on by hand (advance).
type manualTimers struct {
	events chan<- string // told "armed" when a timer is set
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func (m *manualTimers) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

func (m *manualTimers) AfterFunc(d time.Duration, f func()) func() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &manualTimer{at: m.now.Add(d), f: f}
	m.timers = append(m.timers, t)
	m.events <- "armed"
	return func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// advance sets the clock to at and fires every timer due by then, in
// order; it returns how many fired.
func (m *manualTimers) advance(at time.Time) int {
	fired := 0
	m.mu.Lock()
	m.now = at
	m.mu.Unlock()
	for {
		m.mu.Lock()
		var next *manualTimer
		for _, t := range m.timers {
			if !t.stopped && !t.at.After(at) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next != nil {
			next.stopped = true
		}
		m.mu.Unlock()
		if next == nil {
			return fired
		}
		next.f() // outside m.mu: it may arm another timer
		fired++
	}
}

// gateRT answers a message's POST (by the URL's m) 200 once its gate is
// open, at once without a gate, 503 while it is failing.
type gateRT struct {
	mu      sync.Mutex
	gates   map[string]chan struct{}
	failing map[string]bool // answered 503 until openAll
}

func (g *gateRT) fail(msg string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failing == nil {
		g.failing = map[string]bool{}
	}
	g.failing[msg] = true
}

func (g *gateRT) gate(msg string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gates == nil {
		g.gates = map[string]chan struct{}{}
	}
	if g.gates[msg] == nil {
		g.gates[msg] = make(chan struct{})
	}
	return g.gates[msg]
}

// openAll answers every POST, held or to come.
func (g *gateRT) openAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.gates {
		select {
		case <-c:
		default:
			close(c)
		}
	}
	g.gates, g.failing = map[string]chan struct{}{}, nil
}

func (g *gateRT) RoundTrip(r *http.Request) (*http.Response, error) {
	g.mu.Lock()
	c := g.gates[r.URL.Query().Get("m")]
	failing := g.failing[r.URL.Query().Get("m")]
	g.mu.Unlock()
	if failing {
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	}
	if c != nil {
		select {
		case <-c:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

// deferObserver reports each hand-back once it is written and its wake set.
type deferObserver struct{ events chan string }

func (deferObserver) Callback(string)        {}
func (deferObserver) CallbackBreakerOpened() {}
func (deferObserver) CallbackHostsOpen(int)  {}
func (o deferObserver) CallbacksDeferred(reason string, n int) {
	o.events <- "deferred " + reason
}

type wakeBench struct {
	out    *wakeOutbox
	clock  *manualTimers
	rt     *gateRT
	sender *Sender
	t0     time.Time
}

// newWakeBench makes a sender with one worker per destination and the
// poll an hour away: only wakes make it claim.
func newWakeBench(workers int) *wakeBench {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	out := newWakeOutbox()
	b := &wakeBench{out: out, clock: &manualTimers{now: t0, events: out.events}, rt: &gateRT{}, t0: t0}
	b.sender = &Sender{
		Store: b.out, Owner: "me", Secrets: func(string) []string { return []string{"s3cret"} },
		Client:  &http.Client{Transport: b.rt},
		Workers: workers, PerHost: 1, Poll: time.Hour,
		Logger: slog.New(slog.DiscardHandler), Obs: deferObserver{events: b.out.events},
		Now: b.clock.Now, afterFunc: b.clock.AfterFunc,
	}
	return b
}

func (b *wakeBench) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.sender.Run(ctx)
	}()
	t.Cleanup(func() {
		b.rt.openAll()
		cancel()
		<-done
	})
}

// await reads events until each of want has come, in order, failing if
// they do not within a bound far beyond any machine's pace (a lost wake
// never comes: the poll is an hour away).
func (b *wakeBench) await(t *testing.T, want ...string) {
	t.Helper()
	bound := time.After(30 * time.Second)
	for len(want) > 0 {
		select {
		case e := <-b.out.events:
			if e == want[0] {
				want = want[1:]
			}
		case <-bound:
			t.Fatalf("still waiting for %q", want)
		}
	}
}

// A callback handed back due later than a wake already set, the earlier
// wake's claim handing nothing back: it is claimed when it is due, not at
// the poll an hour later. Each step waits for the last one's claim, and
// no POST ends in between but m1's, so nothing else wakes the sender.
func TestHandedBackCallbackIsWokenLaterThanAnEarlierWake(t *testing.T) {
	t.Parallel()
	b := newWakeBench(2) // claims up to 4
	t0, ms := b.t0, func(n int) time.Time { return b.t0.Add(time.Duration(n) * time.Millisecond) }
	for _, m := range []string{"m1", "m2", "m3", "m4"} {
		b.rt.gate(m) // POSTs hang until opened
	}
	b.out.add("m1", t0)
	b.out.add("m2", t0)
	b.out.add("m3", ms(100))
	b.out.add("m4", ms(100))
	b.run(t)
	// m1's POST hangs; m2 finds the destination's queue full and is
	// handed back, due at t0+250ms (its wake at 260, a 20ms slot).
	b.await(t, "claimed m1", "claimed m2", "claim", "armed", "deferred "+deferBusy)
	// m3 and m4 are due; a status change wakes the sender. m3 waits
	// behind m1; m4 is handed back, due at t0+350ms (wake at 360): after
	// m2's wake.
	require.Zero(t, b.clock.advance(ms(100)), "no wake is due yet")
	b.sender.Wake()
	b.await(t, "claimed m3", "claimed m4", "claim", "deferred "+deferBusy)
	// m1 is answered; m3 starts, and the claim m1's end wakes finds
	// nothing due.
	close(b.rt.gate("m1"))
	b.await(t, "finish m1 delivered", "claim")
	// m2's wake: m2 is claimed and waits behind m3, handing nothing back.
	require.Equal(t, 1, b.clock.advance(ms(300)), "m2's wake fires")
	b.await(t, "claimed m2", "claim")
	// m4's wake: nothing else would claim it for an hour.
	require.Equal(t, 1, b.clock.advance(ms(400)), "m4's wake fires")
	b.await(t, "claimed m4")
}

// A wake whose claim fails (the database briefly unreachable) is tried
// again soon, not at the poll an hour later.
func TestFailedClaimIsRetriedBeforeThePoll(t *testing.T) {
	t.Parallel()
	b := newWakeBench(2)
	b.run(t)
	b.await(t, "claim") // nothing due yet
	b.out.mu.Lock()
	b.out.claimErr = errors.New("database is locked")
	b.out.mu.Unlock()
	b.out.add("m1", b.t0)
	b.sender.Wake() // m1's status change was recorded
	b.await(t, "claim", "armed")
	require.Equal(t, 1, b.clock.advance(b.t0.Add(time.Minute)), "the retry's wake fires")
	b.await(t, "claimed m1", "finish m1 delivered")
}

// The wakes the sender keeps: each rounded up to its slot (10ms up to
// 320ms ahead, 20ms up to 640ms, ...), in order, one per slot; each wakes
// Run when its time comes.
func TestWakeAtKeepsEveryLaterWake(t *testing.T) {
	t.Parallel()
	b := newWakeBench(1)
	s := b.sender
	s.defaults()
	ms := func(n int) time.Time { return b.t0.Add(time.Duration(n) * time.Millisecond) }
	for _, at := range []int{300, 100, 200, 295, 95, 100, 151} {
		s.wakeAt(ms(at))
	}
	s.mu.Lock()
	got := slices.Clone(s.wakes)
	s.mu.Unlock()
	require.Equal(t, []time.Time{ms(100), ms(160), ms(200), ms(300)}, got)
	for _, at := range []int{100, 160, 200, 300} {
		require.Equal(t, 1, b.clock.advance(ms(at)), "wake at %dms", at)
		select {
		case <-s.wakeChan():
		default:
			t.Fatalf("the wake at %dms did not wake Run", at)
		}
	}
	require.Empty(t, s.wakes)
	require.Zero(t, b.clock.advance(ms(1000)))
}

// A failed try's retry is claimed when it is due, not at the poll.
func TestRetryIsWokenWhenDue(t *testing.T) {
	t.Parallel()
	b := newWakeBench(1)
	b.rt.fail("m1")
	b.out.add("m1", b.t0)
	b.run(t)
	b.await(t, "claimed m1", "finish m1 pending", "armed")
	b.rt.openAll() // the receiver recovers
	require.Equal(t, 1, b.clock.advance(b.t0.Add(time.Minute)), "the retry's wake fires")
	b.await(t, "claimed m1", "finish m1 delivered")
}
