package routing

import (
	"context"
	"errors"
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

// gated is a provider whose sends block until the test opens the gate: a
// slow channel, with no wall-clock wait.
type gated struct {
	name    string
	kind    channels.Kind
	entered chan string // a send started (message id)
	gate    chan struct{}
}

func (g *gated) Name() string                { return g.name }
func (g *gated) Kind() channels.Kind         { return g.kind }
func (g *gated) Probe(context.Context) error { return nil }
func (g *gated) Send(_ context.Context, m *channels.Message) (channels.Result, error) {
	g.entered <- m.ID
	<-g.gate
	return channels.Result{ProviderID: "p-" + m.ID}, nil
}

// leaseBundle runs a dispatcher on a real SQLite store with a clock and a
// renewal ticker the test drives by hand. The lease is one minute of the
// test's clock; nothing waits for it on the wall clock.
type leaseBundle struct {
	t      *testing.T
	st     *sqlite.Store
	d      *Dispatcher
	ch     *gated
	tick   chan time.Time
	lease  time.Duration
	mu     sync.Mutex
	now    time.Time
	cancel context.CancelFunc
	done   chan error
}

func (lb *leaseBundle) clock() time.Time {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.now
}

func (lb *leaseBundle) advance(d time.Duration) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.now = lb.now.Add(d)
}

func setupLeases(t *testing.T, workers int) *leaseBundle {
	t.Helper()
	return setupLeasesWith(t, workers, nil)
}

// setupLeasesWith is setupLeases with the dispatcher's store wrapped by
// wrap (nil: the SQLite store itself); lb.st stays the SQLite store.
func setupLeasesWith(t *testing.T, workers int, wrap func(*sqlite.Store) store.Store) *leaseBundle {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sb.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	lb := &leaseBundle{
		t: t, st: st, tick: make(chan time.Time), lease: time.Minute,
		now: time.Now().UTC().Truncate(time.Second),
		ch:  &gated{name: "whatsapp", kind: channels.WhatsApp, entered: make(chan string, 16), gate: make(chan struct{})},
	}
	cc := chanConfig("whatsapp")
	cc.SendTimeout = config.Duration(time.Hour) // the gate decides, not the timeout
	pol := &config.Policy{Name: "otp", Route: []string{"whatsapp"}, FailoverOn: config.AllTriggers}
	r, err := NewRouter([]*config.Policy{pol}, []*Lane{NewLane(lb.ch, cc, slog.New(slog.DiscardHandler))}, nil)
	require.NoError(t, err)
	var ds store.Store = st
	if wrap != nil {
		ds = wrap(st)
	}
	lb.d = NewDispatcher(ds, r,
		config.Dispatch{Workers: workers, Lease: config.Duration(lb.lease), Poll: config.Duration(time.Hour)},
		DispatcherOptions{Owner: "mine", Now: lb.clock, Logger: slog.New(slog.DiscardHandler)})
	lb.d.renewTicker = func(time.Duration) (<-chan time.Time, func()) { return lb.tick, func() {} }
	ctx, cancel := context.WithCancel(context.Background())
	lb.cancel, lb.done = cancel, make(chan error, 1)
	go func() { lb.done <- lb.d.Run(ctx) }()
	t.Cleanup(func() {
		select {
		case <-lb.ch.gate:
		default:
			close(lb.ch.gate)
		}
		lb.stop()
	})
	return lb
}

func (lb *leaseBundle) stop() {
	lb.cancel()
	if lb.done != nil {
		require.NoError(lb.t, <-lb.done)
		lb.done = nil
	}
}

// accept stores a message pre-leased to the dispatcher and hands it over,
// as the API does.
func (lb *leaseBundle) accept(id string) {
	lb.t.Helper()
	now := lb.clock()
	require.True(lb.t, lb.d.Reserve())
	m, _, err := lb.st.Enqueue(context.Background(), &store.Message{
		ID: id, Policy: "otp", Route: []string{"whatsapp"}, Body: "Your code is 123456",
		To:        store.Recipient{WhatsApp: "+15551234567"},
		CreatedAt: now, NextAt: now, ExpiresAt: now.Add(time.Hour),
		LeaseOwner: lb.d.Owner(), LeaseUntil: now.Add(lb.lease),
	})
	require.NoError(lb.t, err)
	lb.d.Submit(m)
}

func (lb *leaseBundle) get(id string) *store.Message {
	lb.t.Helper()
	m, err := lb.st.Get(context.Background(), id)
	require.NoError(lb.t, err)
	return m
}

// renew fires one renewal tick and waits until the leases of ids have the
// end it should set (the test's clock + lease).
func (lb *leaseBundle) renew(ids ...string) {
	lb.t.Helper()
	lb.tick <- lb.clock()
	until := lb.clock().Add(lb.lease)
	require.Eventually(lb.t, func() bool {
		for _, id := range ids {
			if m := lb.get(id); m.LeaseOwner != lb.d.Owner() || !m.LeaseUntil.Equal(until) {
				return false
			}
		}
		return true
	}, 10*time.Second, time.Millisecond)
}

func (lb *leaseBundle) claimBy(owner string) []string {
	lb.t.Helper()
	ms, err := lb.st.Claim(context.Background(), store.ClaimParams{Owner: owner, Lease: lb.lease, Limit: 10, Now: lb.clock()})
	require.NoError(lb.t, err)
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

// A message whose send outlasts several leases stays leased to the
// dispatcher working on it, and so does one handed over and still waiting
// for a free worker; nobody else claims them meanwhile.
func TestLeasesRenewedWhileProcessing(t *testing.T) {
	t.Parallel()
	lb := setupLeases(t, 1) // one worker: m2 waits behind m1's slow send
	lb.accept("m1")
	require.Equal(t, "m1", <-lb.ch.entered)
	lb.accept("m2")

	for range 3 {
		lb.advance(50 * time.Second) // past the previous lease end by the third round
		lb.renew("m1", "m2")
		require.Empty(t, lb.claimBy("other"), "renewed leases hold")
	}

	close(lb.ch.gate)
	require.Equal(t, "m2", <-lb.ch.entered)
	require.Eventually(t, func() bool {
		return lb.get("m1").Status == store.StatusSent && lb.get("m2").Status == store.StatusSent
	}, 10*time.Second, time.Millisecond)
	for _, id := range []string{"m1", "m2"} {
		m := lb.get(id)
		require.Empty(t, m.LeaseOwner, "Advance dropped the lease: it was never lost")
		require.Len(t, m.History, 1)
		require.False(t, m.History[0].Ambiguous)
	}
	require.Eventually(t, func() bool { return len(lb.d.heldIDs()) == 0 }, 10*time.Second, time.Millisecond,
		"finished messages are no longer renewed")
}

// A lease that expired and was claimed by another instance is not taken
// back by renewal; the first owner's Advance reports the loss.
func TestLostLeaseIsNotRenewed(t *testing.T) {
	t.Parallel()
	lb := setupLeases(t, 4)
	lb.accept("m1")
	require.Equal(t, "m1", <-lb.ch.entered)

	lb.advance(lb.lease + time.Second) // no renewal in time: the lease expired
	require.Equal(t, []string{"m1"}, lb.claimBy("other"))
	lb.tick <- lb.clock()
	close(lb.ch.gate)
	lb.stop() // waits for m1's Advance and for the renewal to be done

	m := lb.get("m1")
	require.Equal(t, "other", m.LeaseOwner)
	require.Equal(t, lb.clock().Add(lb.lease), m.LeaseUntil, "the other instance's lease, as it claimed it")
	require.Len(t, m.History, 1, "the attempt was still recorded")
	require.Equal(t, store.AttemptSent, m.History[0].Status)
	require.Equal(t, store.StatusQueued, m.Status, "the message fields are the new owner's to change")
}

func TestRenewLeasesOneBatchedCall(t *testing.T) {
	t.Parallel()
	rs := &renewSpy{}
	d := NewDispatcher(rs, nil, config.Dispatch{Lease: config.Duration(90 * time.Second)}, DispatcherOptions{
		Owner: "mine", Now: func() time.Time { return time.Unix(1000, 0) }, Logger: slog.New(slog.DiscardHandler),
	})
	d.renewLeases()
	require.Empty(t, rs.calls, "nothing held, no call")
	for i := range 5 {
		d.hold(fmt.Sprint("m", i), time.Time{})
	}
	d.hold("m0", time.Time{}) // held twice (claimed again while processing)
	d.unhold("m0")
	d.unhold("m4")
	d.renewLeases()
	require.Len(t, rs.calls, 1)
	require.Equal(t, "mine", rs.calls[0].owner)
	require.ElementsMatch(t, []string{"m0", "m1", "m2", "m3"}, rs.calls[0].ids)
	require.Equal(t, time.Unix(1090, 0), rs.calls[0].until)
	require.Equal(t, 30*time.Second, d.renewEvery())
}

type renewCall struct {
	owner string
	ids   []string
	until time.Time
}

type renewSpy struct {
	store.Store
	calls []renewCall
}

func (r *renewSpy) RenewLeases(_ context.Context, owner string, ids []string, until time.Time) (int, error) {
	r.calls = append(r.calls, renewCall{owner, ids, until})
	return len(ids), nil
}

// leaseStore fails renewals on demand, and (as a store.LeaseKeeper, like
// store/postgres) can report chosen leases as taken by another instance.
type leaseStore struct {
	*sqlite.Store
	mu        sync.Mutex
	failRenew bool
	stolen    map[string]bool
	renewals  int
}

var errStoreDown = errors.New("connection refused")

func (s *leaseStore) RenewLeases(ctx context.Context, owner string, ids []string, until time.Time) (int, error) {
	got, err := s.RenewLeaseIDs(ctx, owner, ids, until)
	return len(got), err
}

func (s *leaseStore) RenewLeaseIDs(ctx context.Context, owner string, ids []string, until time.Time) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.renewals++
	if s.failRenew {
		return nil, errStoreDown
	}
	var keep []string
	for _, id := range ids {
		if !s.stolen[id] {
			keep = append(keep, id)
		}
	}
	if _, err := s.Store.RenewLeases(ctx, owner, keep, until); err != nil {
		return nil, err
	}
	return keep, nil
}

func (s *leaseStore) set(f func(*leaseStore)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// An owner that cannot renew its leases makes no further provider call for
// the messages it holds: a message waiting for a worker is left to the next
// claim, unsent and due at once, while the send already under way finishes
// and is recorded. Likewise for a lease the store says another instance
// holds (a store.LeaseKeeper reports which leases it renewed).
func TestNoSendWithoutARenewedLease(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		break_ func(*leaseStore)
		// advance is the clock's move before the renewal: past two
		// renewal periods when renewals fail (a failure alone does not
		// stop work; a lease with less than the margin left does), one
		// period when the store says the lease is gone (that stops it).
		advance func(lease time.Duration) time.Duration
	}{
		{"renewal fails", func(s *leaseStore) { s.failRenew = true }, func(l time.Duration) time.Duration { return l * 3 / 4 }},
		{"lease taken by another instance", func(s *leaseStore) { s.stolen = map[string]bool{"m2": true} }, func(l time.Duration) time.Duration { return l / 3 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ls *leaseStore
			lb := setupLeasesWith(t, 1, func(st *sqlite.Store) store.Store {
				ls = &leaseStore{Store: st}
				return ls
			})
			lb.accept("m1")
			require.Equal(t, "m1", <-lb.ch.entered)
			lb.accept("m2") // waits behind m1's slow send

			ls.set(tc.break_)
			lb.advance(tc.advance(lb.lease))
			lb.tick <- lb.clock()
			require.Eventually(t, func() bool {
				ls.mu.Lock()
				defer ls.mu.Unlock()
				return ls.renewals >= 1
			}, 10*time.Second, time.Millisecond)
			// The renewal's answer is applied after the store call returns.
			require.Eventually(t, func() bool { return !lb.d.leaseOK("m2") }, 10*time.Second, time.Millisecond)
			close(lb.ch.gate)
			require.Eventually(t, func() bool {
				return lb.get("m1").Status == store.StatusSent && len(lb.d.heldIDs()) == 0
			}, 10*time.Second, time.Millisecond)
			lb.stop()
			select {
			case id := <-lb.ch.entered:
				t.Fatalf("%s was sent without a confirmed lease", id)
			default:
			}

			m2 := lb.get("m2")
			require.Empty(t, m2.History, "no attempt: nothing was sent")
			require.Equal(t, store.StatusQueued, m2.Status)
			require.Empty(t, m2.LeaseOwner, "the lease was still ours in the store: given back")
			require.Equal(t, lb.clock(), m2.NextAt, "due at once, for any instance")
			require.Equal(t, []string{"m2"}, lb.claimBy("other"))
		})
	}
}

// advanceFlaky fails the first n Advances, as a database restarting would.
type advanceFlaky struct {
	*sqlite.Store
	mu   sync.Mutex
	fail int
}

func (s *advanceFlaky) Advance(ctx context.Context, t *store.Transition) error {
	s.mu.Lock()
	if s.fail > 0 {
		s.fail--
		s.mu.Unlock()
		return errStoreDown
	}
	s.mu.Unlock()
	return s.Store.Advance(ctx, t)
}

// A step whose recording fails (the database is restarting) is recorded
// once the store answers again: the send is not lost, so the message is
// not sent a second time by the next claim.
func TestAdvanceRetriedWhileTheStoreIsDown(t *testing.T) {
	t.Parallel()
	lb := setupLeasesWith(t, 2, func(st *sqlite.Store) store.Store { return &advanceFlaky{Store: st, fail: 3} })
	close(lb.ch.gate)
	lb.accept("m1")
	require.Equal(t, "m1", <-lb.ch.entered)
	require.Eventually(t, func() bool { return lb.get("m1").Status == store.StatusSent }, 20*time.Second, 5*time.Millisecond)
	m := lb.get("m1")
	require.Len(t, m.History, 1)
	require.Empty(t, m.LeaseOwner)
}

// While claims fail the claim loop backs off, up to maxClaimBackoff, and
// polls at its interval again after a claim succeeds.
func TestClaimBackoff(t *testing.T) {
	t.Parallel()
	d := NewDispatcher(nil, nil, config.Dispatch{Poll: config.Duration(50 * time.Millisecond)},
		DispatcherOptions{Logger: slog.New(slog.DiscardHandler)})
	var waits []time.Duration
	for range 8 {
		waits = append(waits, d.claimWait())
		d.claimFailed(errStoreDown)
	}
	require.Equal(t, []time.Duration{
		50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, maxClaimBackoff, maxClaimBackoff,
	}, waits)
	d.claimSucceeded()
	require.Equal(t, 50*time.Millisecond, d.claimWait())
}
