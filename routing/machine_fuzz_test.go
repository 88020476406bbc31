package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/health"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/sqlite"
)

// The state machine's property test: a random sequence of provider
// outcomes, receipts, health changes (breakers open on their own from
// transient failures) and clock steps, run by the real Dispatcher on a
// SQLite store, must keep the routing invariants (see machine.check).

// machineOutcomes are what a channel's next sends return.
var machineOutcomes = []outcome{
	{res: channels.Result{}}, // sent; a receipt may come
	{res: channels.Result{Delivered: true}},
	transient,
	permanent,
	misconfig,
	{err: &channels.Error{Class: channels.RateLimited, RetryAfter: 2 * time.Second, Err: errors.New("429")}},
	{err: channels.Classify(channels.Ambiguous, errors.New("read timeout after the request was written"))},
}

var machineSteps = []time.Duration{time.Second, 5 * time.Second, 20 * time.Second, 31 * time.Second, 61 * time.Second, 5 * time.Minute, 11 * time.Minute}

var machineNames = []string{"whatsapp", "sms", "email"}

// machineChan is a provider whose outcome the test sets, and which logs
// each call with the test's clock.
type machineChan struct {
	name  string
	kind  channels.Kind
	clock func() time.Time

	mu    sync.Mutex
	next  outcome
	n     int
	sends []machineSend
}

type machineSend struct {
	msg, providerID string
	at              time.Time
}

func (c *machineChan) Name() string                { return c.name }
func (c *machineChan) Kind() channels.Kind         { return c.kind }
func (c *machineChan) Probe(context.Context) error { return nil }
func (c *machineChan) Send(_ context.Context, m *channels.Message) (channels.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	pid := fmt.Sprintf("%s-%d", c.name, c.n)
	c.sends = append(c.sends, machineSend{msg: m.ID, providerID: pid, at: c.clock()})
	if c.next.err != nil {
		return channels.Result{}, c.next.err
	}
	res := c.next.res
	res.ProviderID = pid
	return res, nil
}

func (c *machineChan) set(o outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next = o
}

// machineHealth is a health view the test changes.
type machineHealth struct {
	mu     sync.Mutex
	states map[string]health.State
}

func (h *machineHealth) Usable(name string) (bool, health.State, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch st := h.states[name]; st {
	case health.Down:
		return false, st, "probe failed: connection refused"
	case health.Disabled:
		return false, st, "disabled by ops: drill"
	}
	return true, health.Healthy, ""
}

type machine struct {
	t        *testing.T
	st       *sqlite.Store
	d        *Dispatcher
	receipts *Receipts
	pol      *config.Policy
	chans    map[string]*machineChan
	health   *machineHealth

	mu  sync.Mutex
	now time.Time

	ids  []string
	seen map[string]*seenMessage
	log  []string // the events so far, for a failure's message
}

// seenMessage is what the invariants remember of a message.
type seenMessage struct {
	status    store.Status
	expiresAt time.Time
	// sendsAtEnd: the provider calls made for the message when it was
	// first seen delivered or final (-1: not yet).
	sendsAtEnd int
}

func (mc *machine) clock() time.Time {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	return mc.now
}

func newMachine(t *testing.T, conf byte) *machine {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	// The policy's failover_on is any subset of the triggers (bits 0-5),
	// on_ambiguous from bit 6, and a receipt deadline on sms from bit 7.
	var triggers []config.Trigger
	for i, tr := range config.AllTriggers {
		if conf&(1<<i) != 0 {
			triggers = append(triggers, tr)
		}
	}
	pol := &config.Policy{
		Name: "otp", Route: machineNames, FailoverOn: triggers,
		ReceiptTimeout: map[string]config.Duration{"whatsapp": config.Duration(30 * time.Second)},
	}
	if conf&(1<<6) != 0 {
		pol.OnAmbiguous = config.AmbiguousAssumeSent
	}
	if conf&(1<<7) != 0 {
		pol.ReceiptTimeout["sms"] = config.Duration(time.Minute)
	}
	mc := &machine{
		t: t, st: st, pol: pol, chans: map[string]*machineChan{},
		health: &machineHealth{states: map[string]health.State{}},
		now:    time.Now().UTC().Truncate(time.Second),
		seen:   map[string]*seenMessage{},
	}
	kinds := map[string]channels.Kind{"whatsapp": channels.WhatsApp, "sms": channels.SMS, "email": channels.Email}
	quiet := slog.New(slog.DiscardHandler)
	var lanes []*Lane
	for _, name := range machineNames {
		ch := &machineChan{name: name, kind: kinds[name], clock: mc.clock, next: machineOutcomes[0]}
		mc.chans[name] = ch
		cc := chanConfig(name)
		cc.Receipts = config.ReceiptHealth{MinSends: 3, CanaryRatio: 0.5}
		lanes = append(lanes, NewLane(ch, cc, quiet))
	}
	r, err := NewRouter([]*config.Policy{pol}, lanes, mc.health)
	if err != nil {
		t.Fatal(err)
	}
	mc.d = NewDispatcher(st, r, config.Dispatch{}, DispatcherOptions{Owner: "machine", Now: mc.clock, Logger: quiet})
	mc.d.rnd = func() float64 { return 0.5 }
	mc.receipts = &Receipts{Store: st, Router: mc.d.Router, Logger: quiet}
	return mc
}

func (mc *machine) fatalf(format string, args ...any) {
	mc.t.Helper()
	mc.t.Fatalf("%s\nevents:\n%v", fmt.Sprintf(format, args...), mc.log)
}

// apply runs one event.
func (mc *machine) apply(op, arg byte) {
	ctx := context.Background()
	switch op % 8 {
	case 0:
		if len(mc.ids) >= 5 {
			return
		}
		id := fmt.Sprintf("m%d", len(mc.ids)+1)
		now := mc.clock()
		ttl := time.Duration(arg%10+1) * time.Minute
		mc.log = append(mc.log, "enqueue "+id+" ttl "+ttl.String())
		if _, _, err := mc.st.Enqueue(ctx, &store.Message{
			ID: id, Policy: "otp", Route: mc.pol.Route, Body: "Your code is 123456",
			To:        store.Recipient{WhatsApp: "+15551234567", Phone: "+15551234567", Email: "ana@example.com"},
			CreatedAt: now, NextAt: now, ExpiresAt: now.Add(ttl),
		}); err != nil {
			mc.fatalf("enqueue: %v", err)
		}
		mc.ids = append(mc.ids, id)
		mc.seen[id] = &seenMessage{status: store.StatusQueued, expiresAt: now.Add(ttl), sendsAtEnd: -1}
	case 1:
		name, o := machineNames[int(arg)%3], int(arg/3)%len(machineOutcomes)
		mc.log = append(mc.log, fmt.Sprintf("%s outcome %d", name, o))
		mc.chans[name].set(machineOutcomes[o])
	case 2:
		mc.receipt(arg)
	case 3:
		name := machineNames[int(arg)%3]
		state := []health.State{health.Healthy, health.Down, health.Disabled}[int(arg/3)%3]
		mc.log = append(mc.log, fmt.Sprintf("%s %s", name, state))
		mc.health.mu.Lock()
		mc.health.states[name] = state
		mc.health.mu.Unlock()
	case 4:
		d := machineSteps[int(arg)%len(machineSteps)]
		mc.log = append(mc.log, "clock +"+d.String())
		mc.mu.Lock()
		mc.now = mc.now.Add(d)
		mc.mu.Unlock()
	default:
		mc.log = append(mc.log, "run")
		mc.run()
	}
}

// receipt reports a delivery status for the last send of one message on
// one channel, if there was one.
func (mc *machine) receipt(arg byte) {
	if len(mc.ids) == 0 {
		return
	}
	id, name := mc.ids[int(arg)%len(mc.ids)], machineNames[int(arg/8)%3]
	status := []channels.ReceiptStatus{channels.ReceiptDelivered, channels.ReceiptUndelivered, channels.ReceiptRead}[int(arg/32)%3]
	ch := mc.chans[name]
	ch.mu.Lock()
	pid := ""
	for _, s := range ch.sends {
		if s.msg == id {
			pid = s.providerID
		}
	}
	ch.mu.Unlock()
	if pid == "" {
		return
	}
	mc.log = append(mc.log, fmt.Sprintf("receipt %s %s %s", id, name, status))
	if err := mc.receipts.Receipt(context.Background(), channels.Receipt{
		Channel: name, ProviderID: pid, Status: status, At: mc.clock(), Error: "63016",
	}); err != nil {
		mc.fatalf("receipt: %v", err)
	}
}

// run claims what is due now and processes it, until nothing is due.
func (mc *machine) run() {
	for range 100 {
		msgs, err := mc.st.Claim(context.Background(), store.ClaimParams{Owner: "machine", Lease: time.Minute, Limit: 100, Now: mc.clock()})
		if err != nil {
			mc.fatalf("claim: %v", err)
		}
		if len(msgs) == 0 {
			return
		}
		for _, m := range msgs {
			mc.d.Process(m)
		}
	}
	mc.fatalf("messages still due after 100 claims at the same instant: a step made no progress")
}

// sends returns the provider calls made for id, in order.
func (mc *machine) sends(id string) []machineSend {
	var out []machineSend
	for _, name := range machineNames {
		ch := mc.chans[name]
		ch.mu.Lock()
		for _, s := range ch.sends {
			if s.msg == id {
				out = append(out, s)
			}
		}
		ch.mu.Unlock()
	}
	return out
}

// check asserts the invariants on every message.
func (mc *machine) check() {
	mc.t.Helper()
	for _, id := range mc.ids {
		m, err := mc.st.Get(context.Background(), id)
		if err != nil {
			mc.fatalf("get %s: %v", id, err)
		}
		seen := mc.seen[id]
		sends := mc.sends(id)
		mc.checkStatus(m, seen)

		// One final state, and a delivered message is never sent again:
		// once delivered or final, no provider call is made for it.
		if seen.sendsAtEnd < 0 && (m.Status.Final() || m.Status == store.StatusDelivered) {
			seen.sendsAtEnd = len(sends)
		}
		if seen.sendsAtEnd >= 0 && len(sends) > seen.sendsAtEnd {
			mc.fatalf("%s: %d provider calls after it was %s (first %d)", id, len(sends), m.Status, seen.sendsAtEnd)
		}

		// TTL: no message waits past it (it is looked at again when it
		// expires, and ends then), and no provider call is made at or
		// after it. A receipt after the TTL may make it due now (an
		// undelivered one, to fail over): the next claim ends it.
		if !m.NextAt.IsZero() && m.NextAt.After(seen.expiresAt) && m.NextAt.After(mc.clock()) {
			mc.fatalf("%s: %s, due %v after its ttl %v", id, m.Status, m.NextAt, seen.expiresAt)
		}
		for _, s := range sends {
			if !s.at.Before(seen.expiresAt) {
				mc.fatalf("%s: sent on %s at %v, its ttl ended %v", id, s.providerID, s.at, seen.expiresAt)
			}
		}
		mc.checkAttempts(m)
	}
}

// checkStatus: status only moves forward. The dispatcher never lowers it;
// a receipt may turn failed or expired into delivered or read, because
// the customer got the message after all (the stores' receipt rule), and
// nothing else ever leaves a final status.
func (mc *machine) checkStatus(m *store.Message, seen *seenMessage) {
	mc.t.Helper()
	prev, cur := seen.status, m.Status
	delivered := func(s store.Status) bool { return s == store.StatusDelivered || s == store.StatusRead }
	switch {
	case !cur.Valid():
		mc.fatalf("%s: invalid status %q", m.ID, cur)
	case delivered(prev) && (!delivered(cur) || cur.Rank() < prev.Rank()):
		mc.fatalf("%s: %s after %s", m.ID, cur, prev)
	case prev.Final() && cur != prev && !delivered(cur):
		mc.fatalf("%s: %s after the final status %s", m.ID, cur, prev)
	case !prev.Final() && cur.Rank() < prev.Rank():
		mc.fatalf("%s: status went back from %s to %s", m.ID, prev, cur)
	}
	seen.status = cur
}

// checkAttempts: every attempt the route moved on from says why, with a
// reason this version knows; skipped attempts always do.
func (mc *machine) checkAttempts(m *store.Message) {
	mc.t.Helper()
	last := map[int]store.Attempt{}
	for _, a := range m.History {
		if a.Reason != reason.None && !a.Reason.Known() {
			mc.fatalf("%s: attempt %d has unknown reason %q", m.ID, a.Seq, a.Reason)
		}
		if a.Status == store.AttemptSkipped && a.Reason == reason.None {
			mc.fatalf("%s: skipped attempt %d has no reason", m.ID, a.Seq)
		}
		last[a.Step] = a
	}
	for s := 0; s < min(m.Step, len(m.Route)); s++ {
		a, ok := last[s]
		if !ok {
			mc.fatalf("%s: the route moved past step %d with no attempt on it", m.ID, s)
		}
		switch a.Reason.Kind() {
		case reason.KindTrigger, reason.KindSkip, reason.KindCanary:
		default:
			mc.fatalf("%s: the route moved on from attempt %d (%s) with reason %q", m.ID, a.Seq, a.Channel, a.Reason)
		}
	}
}

// finish lets every message's TTL pass and checks that each one ended:
// final, or sent and no longer waited on.
func (mc *machine) finish() {
	mc.t.Helper()
	mc.mu.Lock()
	mc.now = mc.now.Add(11 * time.Minute)
	mc.mu.Unlock()
	mc.log = append(mc.log, "clock +11m", "run")
	mc.run()
	mc.check()
	for _, id := range mc.ids {
		m, err := mc.st.Get(context.Background(), id)
		if err != nil {
			mc.fatalf("get %s: %v", id, err)
		}
		if !m.Status.Final() && (m.Status != store.StatusSent || !m.NextAt.IsZero()) {
			mc.fatalf("%s: %s and due %v after its ttl", id, m.Status, m.NextAt)
		}
	}
}

// runMachine plays data as events: its first byte configures the policy,
// then each pair of bytes is one event. At most 200 events are played.
func runMachine(t *testing.T, data []byte) {
	if len(data) == 0 {
		return
	}
	mc := newMachine(t, data[0])
	data = data[1:]
	for i := 0; i+1 < len(data) && i < 400; i += 2 {
		mc.apply(data[i], data[i+1])
		mc.check()
	}
	mc.finish()
}

// machineSeeds are random event sequences from a fixed seed, so the plain
// test run (no -fuzz) covers a spread of policies and histories.
func machineSeeds() [][]byte {
	rng := rand.New(rand.NewPCG(18, 1))
	var out [][]byte
	n := 24
	if raceEnabled {
		n = 6
	}
	for i := range n {
		b := make([]byte, 1+2*(40+rng.IntN(60)))
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		// Every other seed sends a message early, so most seeds have work.
		if i%2 == 0 && len(b) > 2 {
			b[1], b[2] = 0, 9
		}
		out = append(out, b)
	}
	return out
}

// FuzzStateMachine checks the routing invariants over random histories:
// status only moves forward; one final state; a delivered message is never
// sent again; every attempt the route moved on from has a reason; the TTL
// is honoured.
func FuzzStateMachine(f *testing.F) {
	// All triggers, one message, whatsapp never confirms, then the clock.
	f.Add([]byte{0x3f, 0, 9, 5, 0, 4, 3, 5, 0, 4, 3, 5, 0})
	// Failures of each kind on each channel, with receipts in between.
	f.Add([]byte{0x7f, 0, 9, 1, 6, 1, 10, 5, 0, 4, 0, 5, 0, 2, 0, 2, 32, 5, 0, 4, 6, 5, 0})
	for _, s := range machineSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		runMachine(t, data)
	})
}
