package routing

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/sqlite"
)

// accepting is a provider that takes every message and gives each its own
// provider id; whether a receipt ever comes is up to the test.
type accepting struct {
	name string
	kind channels.Kind

	mu  sync.Mutex
	ids map[string]string // message id -> provider id of its last send
	n   int
}

func (a *accepting) Name() string                { return a.name }
func (a *accepting) Kind() channels.Kind         { return a.kind }
func (a *accepting) Probe(context.Context) error { return nil }
func (a *accepting) Send(_ context.Context, m *channels.Message) (channels.Result, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	id := fmt.Sprintf("%s-%d", a.name, a.n)
	a.ids[m.ID] = id
	return channels.Result{ProviderID: id}, nil
}

func (a *accepting) providerID(msg string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ids[msg]
}

// silentBundle is a dispatcher on a real SQLite store with a clock the test
// moves by hand: nothing waits on the wall clock.
type silentBundle struct {
	t        *testing.T
	st       *sqlite.Store
	d        *Dispatcher
	receipts *Receipts
	chans    map[string]*accepting
	pol      *config.Policy
	now      time.Time
	mu       sync.Mutex
}

func (sb *silentBundle) clock() time.Time {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.now
}

func (sb *silentBundle) advance(d time.Duration) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.now = sb.now.Add(d)
}

func setupSilent(t *testing.T, rcfg config.ReceiptHealth, triggers ...config.Trigger) *silentBundle {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sb.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	if triggers == nil {
		triggers = config.AllTriggers
	}
	sb := &silentBundle{
		t: t, st: st, chans: map[string]*accepting{},
		// A base near the wall clock keeps the store's own timestamps
		// sensible; every decision uses the bundle's clock.
		now: time.Now().UTC().Truncate(time.Second),
		pol: &config.Policy{
			Name: "otp", Route: []string{"whatsapp", "sms", "email"}, FailoverOn: triggers,
			ReceiptTimeout: map[string]config.Duration{"whatsapp": config.Duration(30 * time.Second), "sms": config.Duration(time.Minute)},
		},
	}
	kinds := map[string]channels.Kind{"whatsapp": channels.WhatsApp, "sms": channels.SMS, "email": channels.Email}
	var lanes []*Lane
	for _, name := range []string{"whatsapp", "sms", "email"} {
		ch := &accepting{name: name, kind: kinds[name], ids: map[string]string{}}
		sb.chans[name] = ch
		cc := chanConfig(name)
		cc.Receipts = rcfg
		lanes = append(lanes, NewLane(ch, cc, slog.New(slog.DiscardHandler)))
	}
	r, err := NewRouter([]*config.Policy{sb.pol}, lanes, nil)
	require.NoError(t, err)
	sb.d = NewDispatcher(st, r, config.Dispatch{}, DispatcherOptions{Owner: "test", Now: sb.clock, Logger: slog.New(slog.DiscardHandler)})
	sb.receipts = &Receipts{Store: st, Router: sb.d.Router, Logger: slog.New(slog.DiscardHandler)}
	return sb
}

func (sb *silentBundle) send(id string) {
	sb.t.Helper()
	now := sb.clock()
	_, _, err := sb.st.Enqueue(context.Background(), &store.Message{
		ID: id, Policy: "otp", Route: sb.pol.Route, Body: "Your code is 123456",
		To:        store.Recipient{WhatsApp: "+15551234567", Phone: "+15551234567", Email: "ana@example.com"},
		CreatedAt: now, NextAt: now, ExpiresAt: now.Add(10 * time.Minute),
	})
	require.NoError(sb.t, err)
}

// run claims what is due now and processes it, until nothing is due.
func (sb *silentBundle) run() int {
	sb.t.Helper()
	n := 0
	for {
		msgs, err := sb.st.Claim(context.Background(), store.ClaimParams{Owner: "test", Lease: time.Minute, Limit: 100, Now: sb.clock()})
		require.NoError(sb.t, err)
		if len(msgs) == 0 {
			return n
		}
		for _, m := range msgs {
			sb.d.Process(m)
			n++
		}
	}
}

func (sb *silentBundle) deliver(channel, msg string) {
	sb.t.Helper()
	pid := sb.chans[channel].providerID(msg)
	require.NotEmpty(sb.t, pid, "%s never went through %s", msg, channel)
	require.NoError(sb.t, sb.receipts.Receipt(context.Background(), channels.Receipt{
		Channel: channel, ProviderID: pid, Status: channels.ReceiptDelivered, At: sb.clock(),
	}))
}

func (sb *silentBundle) get(id string) *store.Message {
	sb.t.Helper()
	m, err := sb.st.Get(context.Background(), id)
	require.NoError(sb.t, err)
	return m
}

type att struct{ channel, status, reason, info string }

func attempts(m *store.Message) []att {
	var out []att
	for _, a := range m.History {
		out = append(out, att{a.Channel, string(a.Status), a.Reason.String(), a.Info})
	}
	return out
}

const silentDetail = "WhatsApp is accepting messages but not delivering them"

// goSilent sends five messages WhatsApp never delivers, plus one sent a
// little later, and lets the first five wait out their deadline: the fifth
// miss makes WhatsApp silent.
func (sb *silentBundle) goSilent() {
	sb.t.Helper()
	for i := 1; i <= 5; i++ {
		sb.send(fmt.Sprintf("m%d", i))
	}
	require.Equal(sb.t, 5, sb.run())
	sb.advance(20 * time.Second)
	sb.send("waiting")
	require.Equal(sb.t, 1, sb.run())
	require.Equal(sb.t, store.StatusSent, sb.get("waiting").Status)
	require.False(sb.t, sb.d.Router().Lane("whatsapp").ReceiptHealth().Silent())
	sb.advance(11 * time.Second) // m1..m5 are past their 30s deadline, "waiting" is not
}

func TestSilentChannelFailover(t *testing.T) {
	t.Parallel()
	sb := setupSilent(t, config.ReceiptHealth{})
	sb.goSilent()
	detectedAt := sb.clock()
	// m1..m5 fail over on no_receipt; the fifth makes WhatsApp silent, and
	// "waiting" fails over at once instead of at its own deadline 19s on.
	require.Equal(t, 6, sb.run())
	rh := sb.d.Router().Lane("whatsapp").ReceiptHealth()
	require.True(t, rh.Silent())
	st := rh.Stats(sb.clock())
	require.Equal(t, detectedAt, st.SilentSince)
	require.Equal(t, 5, st.Sends)
	require.Zero(t, st.Confirmed)
	for i := 1; i <= 5; i++ {
		m := sb.get(fmt.Sprintf("m%d", i))
		require.Equal(t, []att{{"whatsapp", "sent", "no_receipt", ""}, {"sms", "sent", "", ""}}, attempts(m))
	}
	w := sb.get("waiting")
	require.Equal(t, []att{{"whatsapp", "sent", "silent", ""}, {"sms", "sent", "", ""}}, attempts(w))
	require.Equal(t, silentDetail, w.History[0].Error)
	require.Contains(t, w.LastError, "failed over without waiting out the 30s receipt deadline")
	require.Equal(t, "sms", w.Channel)

	// New messages skip WhatsApp as if its breaker were open.
	sb.send("new")
	require.Equal(t, 1, sb.run())
	m := sb.get("new")
	require.Equal(t, []att{{"whatsapp", "skipped", "silent", ""}, {"sms", "sent", "", ""}}, attempts(m))
	require.Equal(t, silentDetail, m.History[0].Error)
	require.Equal(t, 6, sb.chans["whatsapp"].n, "only the six first sends reached WhatsApp")

	// Explain says so too.
	to := store.Recipient{WhatsApp: "+15551234567", Phone: "+15551234567"}
	exp, err := sb.d.Router().ExplainMessage("otp", &config.MatchInput{}, to, nil)
	require.NoError(t, err)
	require.Equal(t, "sms", exp.Channel)
	require.Equal(t, "silent", exp.Channels[0].Reason.String())
	require.Equal(t, silentDetail, exp.Channels[0].Detail)
}

// A message woken early whose channel is no longer silent (or whose
// policy does not fail over on silent) goes back to waiting for its
// deadline.
func TestWokenEarlyWithoutSilenceWaitsAgain(t *testing.T) {
	t.Parallel()
	sb := setupSilent(t, config.ReceiptHealth{})
	sb.send("m")
	require.Equal(t, 1, sb.run())
	sb.advance(10 * time.Second)
	n, err := sb.st.MakeDue(context.Background(), []store.AttemptRef{{MessageID: "m", Seq: 1, Channel: "whatsapp"}}, sb.clock())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, 1, sb.run())
	m := sb.get("m")
	require.Equal(t, store.StatusSent, m.Status)
	require.Equal(t, []att{{"whatsapp", "sent", "", ""}}, attempts(m))
	require.WithinDuration(t, m.History[0].StartedAt.Add(30*time.Second), m.NextAt, time.Millisecond)

	// MakeDue leaves alone what is not waiting on that attempt.
	n, err = sb.st.MakeDue(context.Background(), []store.AttemptRef{
		{MessageID: "m", Seq: 1, Channel: "sms"}, {MessageID: "m", Seq: 2, Channel: "whatsapp"}, {MessageID: "nope", Seq: 1, Channel: "whatsapp"},
	}, sb.clock())
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestPolicyWithoutSilentTriggerKeepsSending(t *testing.T) {
	t.Parallel()
	sb := setupSilent(t, config.ReceiptHealth{}, config.TriggerError, config.TriggerNoReceipt)
	sb.goSilent()
	require.Equal(t, 5, sb.run(), "waiting is not made due early")
	require.True(t, sb.d.Router().Lane("whatsapp").ReceiptHealth().Silent())
	require.Equal(t, []att{{"whatsapp", "sent", "", ""}}, attempts(sb.get("waiting")))
	exp := sb.d.Router().Explain(sb.pol, store.Recipient{WhatsApp: "+1555", Phone: "+1555"})
	require.True(t, exp[0].Use)
	require.Equal(t, silentDetail, exp[0].Detail)
}

func TestCanariesRecoverTheChannel(t *testing.T) {
	t.Parallel()
	sb := setupSilent(t, config.ReceiptHealth{CanaryRatio: 0.5})
	sb.goSilent()
	require.Equal(t, 6, sb.run())
	rh := sb.d.Router().Lane("whatsapp").ReceiptHealth()
	require.True(t, rh.Silent())

	// Half the messages also go through WhatsApp as canaries, in parallel
	// with SMS in the same step.
	for i := 1; i <= 6; i++ {
		sb.send(fmt.Sprintf("c%d", i))
	}
	require.Equal(t, 6, sb.run())
	var canaries []string
	for i := 1; i <= 6; i++ {
		id := fmt.Sprintf("c%d", i)
		m := sb.get(id)
		switch got := attempts(m); got[0].status {
		case "sent":
			require.Equal(t, []att{{"whatsapp", "sent", "canary", "canary"}, {"sms", "sent", "", ""}}, got)
			canaries = append(canaries, id)
		default:
			require.Equal(t, []att{{"whatsapp", "skipped", "silent", ""}, {"sms", "sent", "", ""}}, got)
		}
		require.Equal(t, "sms", m.Channel)
		require.Equal(t, store.StatusSent, m.Status)
	}
	require.Len(t, canaries, 3)

	// WhatsApp comes back: the canaries' receipts arrive.
	sb.advance(2 * time.Second)
	sb.deliver("whatsapp", canaries[0])
	sb.deliver("whatsapp", canaries[1])
	require.True(t, rh.Silent())
	require.Equal(t, 2, rh.Stats(sb.clock()).CanaryRun)
	sb.deliver("whatsapp", canaries[2])
	require.False(t, rh.Silent(), "three canaries confirmed in a row")

	// A canary delivered is a delivered message; when its fallback is
	// delivered too the store marks it a duplicate, never hidden.
	m := sb.get(canaries[0])
	require.Equal(t, store.StatusDelivered, m.Status)
	require.Equal(t, "whatsapp", m.Channel)
	sb.deliver("sms", canaries[0])
	require.True(t, sb.get(canaries[0]).Duplicate)

	// New messages go through WhatsApp again.
	sb.send("after")
	require.Equal(t, 1, sb.run())
	require.Equal(t, []att{{"whatsapp", "sent", "", ""}}, attempts(sb.get("after")))
}

func TestCanaryToAddress(t *testing.T) {
	t.Parallel()
	// With the default 5% share, only the canary_to recipient gets one.
	sb := setupSilent(t, config.ReceiptHealth{CanaryTo: []string{"+15551234567"}})
	sb.goSilent()
	sb.run()
	sb.send("x")
	sb.run()
	require.Equal(t, []att{{"whatsapp", "sent", "canary", "canary"}, {"sms", "sent", "", ""}}, attempts(sb.get("x")))
}

// The observer sees a canary as a failover on silent, and silent skips as
// skips.
func TestObserveSilent(t *testing.T) {
	t.Parallel()
	rec := &recordingObserver{}
	m := &store.Message{ID: "m", Policy: "otp"}
	observe(rec, m, &store.Transition{Attempts: []store.Attempt{
		{Seq: 1, Channel: "whatsapp", Status: store.AttemptSent, Reason: "canary"},
		{Seq: 2, Channel: "sms", Status: store.AttemptSent},
	}})
	observe(rec, m, &store.Transition{Attempts: []store.Attempt{
		{Seq: 1, Channel: "whatsapp", Status: store.AttemptSkipped, Reason: "silent"},
		{Seq: 2, Channel: "sms", Status: store.AttemptSent},
	}})
	require.Equal(t, []string{"whatsapp->sms:silent", "whatsapp->sms:silent"}, rec.failovers)
	require.Equal(t, []string{"whatsapp:skipped_silent"}, rec.attempts)
}

type recordingObserver struct {
	nopObserver
	failovers, attempts []string
}

func (r *recordingObserver) Failover(from, to, trigger string) {
	r.failovers = append(r.failovers, from+"->"+to+":"+trigger)
}

func (r *recordingObserver) Attempt(channel, outcome string, _ time.Duration) {
	r.attempts = append(r.attempts, channel+":"+outcome)
}
