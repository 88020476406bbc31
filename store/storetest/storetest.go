// Package storetest is the one behaviour suite every store.Store
// implementation must pass, so SQLite and Postgres cannot drift apart.
//
// Times in the suite have microsecond precision (what Postgres keeps), and
// every "now" is passed explicitly: nothing sleeps.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// Run runs the suite. open must return a new, empty store and arrange for
// it to be closed when t ends (closing an already closed store must be safe).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	suite := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) store.Store)
	}{
		{"EnqueueRoundTrip", testEnqueueRoundTrip},
		{"EnqueueDefaults", testEnqueueDefaults},
		{"EnqueuePreclaimed", testEnqueuePreclaimed},
		{"Idempotency", testIdempotency},
		{"IdempotencyConcurrent", testIdempotencyConcurrent},
		{"ClaimOrderAndLimit", testClaimOrderAndLimit},
		{"ClaimLease", testClaimLease},
		{"ClaimCurrentAttempt", testClaimCurrentAttempt},
		{"Advance", testAdvance},
		{"AdvanceLeaseLost", testAdvanceLeaseLost},
		{"AdvanceFinalMessageUntouched", testAdvanceFinalMessageUntouched},
		{"AdvanceNotFound", testAdvanceNotFound},
		{"AdvanceNextAtZeroNotDue", testAdvanceNextAtZeroNotDue},
		{"StatusNeverMovesBackwards", testStatusNeverMovesBackwards},
		{"Release", testRelease},
		{"RenewLeases", testRenewLeases},
		{"Receipts", testReceipts},
		{"ReceiptNotFound", testReceiptNotFound},
		{"ReadWait", testReadWait},
		{"ListFilters", testListFilters},
		{"ListSearch", testListSearch},
		{"ListPaging", testListPaging},
		{"ListLimits", testListLimits},
		{"Stats", testStats},
		{"Purge", testPurge},
		{"RecipientLimit", testRecipientLimit},
		{"Suppressions", testSuppressions},
		{"SuppressionPaging", testSuppressionPaging},
		{"CostAndSpend", testCostAndSpend},
		{"Close", testClose},
		{"Cancel", testCancel},
		{"CancelRace", testCancelRace},
		{"ListScheduled", testListScheduled},
	}
	for _, tc := range suite {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open)
		})
	}
	// Stores with a status callback outbox must pass its suite too.
	t.Run("Callbacks", func(t *testing.T) {
		t.Parallel()
		RunCallbacks(t, open)
	})
	t.Run("Overrides", func(t *testing.T) {
		RunOverrides(t, open)
	})
	t.Run("Inbound", func(t *testing.T) {
		t.Parallel()
		RunInbound(t, open)
	})
}

// t0 is the suite's clock origin: far from the real clock so an
// implementation that reads time.Now instead of the given Now fails.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 123456000, time.UTC)

type env struct {
	t   *testing.T
	s   store.Store
	ctx context.Context
}

func setup(t *testing.T, open func(t *testing.T) store.Store) *env {
	return &env{t: t, s: open(t), ctx: t.Context()}
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func newMessage(mods ...func(*store.Message)) *store.Message {
	m := &store.Message{
		ID:        newID(),
		Policy:    "otp",
		Route:     []string{"whatsapp", "sms", "email"},
		To:        store.Recipient{Phone: "+15551234567", WhatsApp: "+15551234567", Email: "ana@example.com"},
		Body:      "Your code is 123456",
		CreatedAt: t0,
		NextAt:    t0,
	}
	for _, f := range mods {
		f(m)
	}
	return m
}

func (e *env) enqueue(mods ...func(*store.Message)) *store.Message {
	e.t.Helper()
	m, replayed, err := e.s.Enqueue(e.ctx, newMessage(mods...))
	require.NoError(e.t, err)
	require.False(e.t, replayed)
	return m
}

func (e *env) get(id string) *store.Message {
	e.t.Helper()
	m, err := e.s.Get(e.ctx, id)
	require.NoError(e.t, err)
	return m
}

func (e *env) claim(owner string, now time.Time, limit int) []*store.Message {
	e.t.Helper()
	ms, err := e.s.Claim(e.ctx, store.ClaimParams{Owner: owner, Lease: time.Minute, Limit: limit, Now: now})
	require.NoError(e.t, err)
	return ms
}

// claimOne claims exactly the message id (the only due one in its test).
func (e *env) claimOne(owner string, now time.Time, id string) *store.Message {
	e.t.Helper()
	ms := e.claim(owner, now, 100)
	require.Len(e.t, ms, 1)
	require.Equal(e.t, id, ms[0].ID)
	return ms[0]
}

func ids(ms []*store.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func providerID(id, channel string, seq int) string { return fmt.Sprintf("%s-%s-%d", channel, id, seq) }

// send plays one dispatcher step: claim the message at now, end its current
// attempt with reason no_receipt (if any) and record a sent attempt on
// channel, waiting 30s for a receipt. It returns the new attempt's seq.
func (e *env) send(id string, now time.Time, channel string) int {
	e.t.Helper()
	m := e.claimOne("dispatcher", now, id)
	var atts []store.Attempt
	if m.Current != nil {
		prev := *m.Current
		prev.Reason, prev.EndedAt = "no_receipt", now
		atts = append(atts, prev)
	}
	seq := m.Attempts + 1
	atts = append(atts, store.Attempt{Seq: seq, Step: seq - 1, Channel: channel, Status: store.AttemptSent,
		ProviderID: providerID(id, channel, seq), StartedAt: now})
	require.NoError(e.t, e.s.Advance(e.ctx, &store.Transition{
		MessageID: id, Owner: "dispatcher", Attempts: atts,
		Status: store.StatusSent, Channel: channel, Step: seq - 1, Tries: 1,
		NextAt: now.Add(30 * time.Second), Now: now,
	}))
	return seq
}

// fail ends the route: the current attempt times out and the message fails.
func (e *env) fail(id string, now time.Time, status store.Status) {
	e.t.Helper()
	m := e.claimOne("dispatcher", now, id)
	prev := *m.Current
	prev.Reason, prev.EndedAt = "no_receipt", now
	require.NoError(e.t, e.s.Advance(e.ctx, &store.Transition{
		MessageID: id, Owner: "dispatcher", Attempts: []store.Attempt{prev},
		Status: status, Channel: m.Channel, Step: m.Step, LastError: "route exhausted", Now: now,
	}))
}

func (e *env) receipt(p store.ReceiptParams) store.ReceiptResult {
	e.t.Helper()
	r, err := e.s.RecordReceipt(e.ctx, p)
	require.NoError(e.t, err)
	return r
}

func testEnqueueRoundTrip(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	in := &store.Message{
		ID:               newID(),
		IdempotencyScope: "shop",
		IdempotencyKey:   "order-42",
		RequestHash:      "sha256:abc",
		Policy:           "otp",
		Route:            []string{"whatsapp", "sms", "telegram", "email"},
		To:               store.Recipient{Phone: "+15551234567", WhatsApp: "+15557654321", Email: "ana@example.com", Telegram: "123456789"},
		Body:             "Your code is 123456 – ünïcode ✓",
		Subject:          "Your sign-in code",
		HTML:             "<p>Your code is <b>123456</b></p>",
		Tags:             []string{"otp", "signin"},
		Metadata:         map[string]string{"order": "42", "customer": "ana"},
		CallbackURL:      "https://app.example.com/hooks/switchboard",
		CreatedAt:        t0,
		ExpiresAt:        t0.Add(10 * time.Minute),
		NextAt:           t0.Add(time.Second),

		// Routing state is the store's, not the caller's...
		Status: store.StatusDelivered, Channel: "sms", Step: 2, Tries: 3, Attempts: 4,
		Duplicate: true, LastError: "x",
		// ...except a lease: the message is stored pre-claimed.
		LeaseOwner: "someone", LeaseUntil: t0.Add(time.Hour),
	}
	inCopy := *in
	want := store.Message{
		ID: in.ID, IdempotencyScope: in.IdempotencyScope, IdempotencyKey: in.IdempotencyKey,
		RequestHash: in.RequestHash, Policy: in.Policy, Route: in.Route, To: in.To, Body: in.Body,
		Subject: in.Subject, HTML: in.HTML, Tags: in.Tags, Metadata: in.Metadata, CallbackURL: in.CallbackURL,
		Status: store.StatusQueued, CreatedAt: t0, UpdatedAt: t0, ExpiresAt: in.ExpiresAt, NextAt: in.NextAt,
		LeaseOwner: "someone", LeaseUntil: t0.Add(time.Hour),
	}

	stored, replayed, err := e.s.Enqueue(e.ctx, in)
	require.NoError(t, err)
	require.False(t, replayed)
	require.Equal(t, inCopy, *in, "Enqueue must not modify its argument")
	require.Equal(t, want, *stored)

	got := e.get(in.ID)
	require.Empty(t, got.History)
	got.History = nil
	require.Equal(t, want, *got)

	_, err = e.s.Get(e.ctx, newID())
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NoError(t, e.s.Ping(e.ctx))
}

func testEnqueueDefaults(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	stored, _, err := e.s.Enqueue(e.ctx, &store.Message{Body: "hi", To: store.Recipient{Phone: "+1555"}, CreatedAt: t0})
	require.NoError(t, err)
	id, err := uuid.Parse(stored.ID)
	require.NoError(t, err, "an empty ID gets a generated one")
	require.Equal(t, uuid.Version(7), id.Version())
	require.Equal(t, t0, stored.NextAt, "zero NextAt is due at CreatedAt")
	require.Nil(t, stored.Route)
	require.Nil(t, stored.Tags)
	require.Nil(t, stored.Metadata)

	got := e.get(stored.ID)
	require.Equal(t, store.StatusQueued, got.Status)
	require.Equal(t, t0, got.NextAt)
	require.Nil(t, got.Route)
	require.Nil(t, got.Tags)
	require.Nil(t, got.Metadata)
	require.Equal(t, []string{stored.ID}, ids(e.claim("d", t0, 10)))

	// Zero CreatedAt: stamped by the store, close to the real clock.
	m, _, err := e.s.Enqueue(e.ctx, &store.Message{Body: "now"})
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), m.CreatedAt, time.Minute)
	require.Equal(t, m.CreatedAt, m.NextAt)
}

func testEnqueuePreclaimed(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("not claimable until the lease expires, then reclaimed", func(t *testing.T) {
		t.Parallel()
		e := setup(t, open)
		m := e.enqueue(func(m *store.Message) { m.LeaseOwner, m.LeaseUntil = "api-1", t0.Add(time.Minute) })
		require.Equal(t, "api-1", m.LeaseOwner)
		require.Equal(t, t0.Add(time.Minute), m.LeaseUntil)
		got := e.get(m.ID)
		require.Equal(t, "api-1", got.LeaseOwner)
		require.Equal(t, t0.Add(time.Minute), got.LeaseUntil)
		require.Equal(t, store.StatusQueued, got.Status)
		require.Equal(t, t0, got.NextAt, "due, but held by the lease")

		require.Empty(t, e.claim("other", t0, 10), "leased")
		require.Empty(t, e.claim("api-1", t0.Add(time.Minute), 10), "the lease holds until LeaseUntil")
		st, err := e.s.Stats(e.ctx, t0.Add(time.Second))
		require.NoError(t, err)
		require.Equal(t, store.QueueStats{Pending: 1}, st)

		// The owner died without an Advance: a previous process may have
		// sent it already.
		c := e.claimOne("other", t0.Add(time.Minute+time.Millisecond), m.ID)
		require.True(t, c.Reclaimed)
		require.Equal(t, "other", c.LeaseOwner)
		require.Nil(t, c.Current)
		require.ErrorIs(t, e.s.Advance(e.ctx, &store.Transition{MessageID: m.ID, Owner: "api-1",
			Status: store.StatusSent, Now: t0.Add(2 * time.Minute)}), store.ErrLeaseLost)
	})
	t.Run("the owner advances without a claim", func(t *testing.T) {
		t.Parallel()
		e := setup(t, open)
		m := e.enqueue(func(m *store.Message) { m.LeaseOwner, m.LeaseUntil = "api-1", t0.Add(time.Minute) })
		att := store.Attempt{MessageID: m.ID, Seq: 1, Channel: "whatsapp", Status: store.AttemptSent,
			ProviderID: providerID(m.ID, "whatsapp", 1), StartedAt: t0}
		require.NoError(t, e.s.Advance(e.ctx, &store.Transition{MessageID: m.ID, Owner: "api-1",
			Attempts: []store.Attempt{att}, Status: store.StatusSent, Channel: "whatsapp", Tries: 1,
			NextAt: t0.Add(30 * time.Second), Now: t0}))
		got := e.get(m.ID)
		require.Equal(t, store.StatusSent, got.Status)
		require.Equal(t, []store.Attempt{att}, got.History)
		require.Empty(t, got.LeaseOwner)
		require.True(t, got.LeaseUntil.IsZero())
		require.Equal(t, t0.Add(30*time.Second), got.NextAt)
		r := e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: att.ProviderID,
			Status: store.AttemptDelivered, At: t0.Add(time.Second)})
		require.Equal(t, store.StatusDelivered, r.Status)
		require.Empty(t, e.claim("d", t0.Add(time.Hour), 10))
	})
	t.Run("released at once", func(t *testing.T) {
		t.Parallel()
		e := setup(t, open)
		m := e.enqueue(func(m *store.Message) { m.LeaseOwner, m.LeaseUntil = "api-1", t0.Add(time.Minute) })
		require.NoError(t, e.s.Release(e.ctx, "api-1"))
		c := e.claimOne("d", t0, m.ID)
		require.False(t, c.Reclaimed)
	})
	t.Run("an owner without an end is ignored", func(t *testing.T) {
		t.Parallel()
		e := setup(t, open)
		m := e.enqueue(func(m *store.Message) { m.LeaseOwner = "api-1" })
		require.Empty(t, m.LeaseOwner)
		c := e.claimOne("d", t0, m.ID)
		require.False(t, c.Reclaimed)
	})
}

func testIdempotency(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name         string
		scope1, key1 string
		scope2, key2 string
		replayed     bool
	}{
		{"same scope and key replays", "shop", "k1", "shop", "k1", true},
		{"other scope stores", "shop", "k1", "crm", "k1", false},
		{"other key stores", "shop", "k1", "shop", "k2", false},
		{"empty key never replays", "shop", "", "shop", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, open)
			first := e.enqueue(func(m *store.Message) {
				m.IdempotencyScope, m.IdempotencyKey, m.Body, m.RequestHash = tc.scope1, tc.key1, "first", "h1"
			})
			second, replayed, err := e.s.Enqueue(e.ctx, newMessage(func(m *store.Message) {
				m.IdempotencyScope, m.IdempotencyKey, m.Body, m.RequestHash = tc.scope2, tc.key2, "second", "h2"
			}))
			require.NoError(t, err)
			require.Equal(t, tc.replayed, replayed)
			list, err := e.s.List(e.ctx, store.ListParams{})
			require.NoError(t, err)
			if tc.replayed {
				// The stored message comes back, so the API can compare hashes.
				require.Equal(t, first, second)
				require.Equal(t, "h1", second.RequestHash)
				require.Len(t, list.Messages, 1)
			} else {
				require.NotEqual(t, first.ID, second.ID)
				require.Equal(t, "second", second.Body)
				require.Len(t, list.Messages, 2)
			}
			// The scope is the sender (the API key's name) and is kept with
			// or without a key: a send key reads only the messages whose
			// scope is its name.
			secondScope := tc.scope2
			if tc.replayed {
				secondScope = tc.scope1
			}
			for id, scope := range map[string]string{first.ID: tc.scope1, second.ID: secondScope} {
				got, err := e.s.Get(e.ctx, id)
				require.NoError(t, err)
				require.Equal(t, scope, got.IdempotencyScope)
			}
		})
	}
}

func testIdempotencyConcurrent(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	const n = 32
	type res struct {
		m        *store.Message
		replayed bool
		err      error
	}
	out := make([]res, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m, replayed, err := e.s.Enqueue(e.ctx, newMessage(func(m *store.Message) {
				m.IdempotencyScope, m.IdempotencyKey, m.Body = "shop", "same", fmt.Sprint(i)
			}))
			out[i] = res{m, replayed, err}
		})
	}
	wg.Wait()
	var fresh int
	for _, r := range out {
		require.NoError(t, r.err)
		require.Equal(t, out[0].m.ID, r.m.ID)
		if !r.replayed {
			fresh++
		}
	}
	require.Equal(t, 1, fresh, "exactly one request stores the message")
	list, err := e.s.List(e.ctx, store.ListParams{})
	require.NoError(t, err)
	require.Len(t, list.Messages, 1)
}

func testClaimOrderAndLimit(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	// Inserted out of due order; two share a due time (ties go by ID).
	offsets := []time.Duration{3, 1, 4, 1, 5}
	var msgs []*store.Message
	for _, off := range offsets {
		msgs = append(msgs, e.enqueue(func(m *store.Message) { m.NextAt = t0.Add(off * time.Second) }))
	}
	future := e.enqueue(func(m *store.Message) { m.NextAt = t0.Add(time.Hour) })
	now := t0.Add(10 * time.Second)

	first := e.claim("a", now, 3)
	require.Equal(t, []string{msgs[1].ID, msgs[3].ID, msgs[0].ID}, ids(first))
	for _, m := range first {
		require.Equal(t, "a", m.LeaseOwner)
		require.Equal(t, now.Add(time.Minute), m.LeaseUntil)
		require.Equal(t, store.StatusQueued, m.Status)
		require.False(t, m.Reclaimed)
		require.Nil(t, m.Current)
	}
	rest := e.claim("b", now, 10)
	require.Equal(t, []string{msgs[2].ID, msgs[4].ID}, ids(rest))
	require.Empty(t, e.claim("c", now, 10))
	require.Empty(t, e.claim("c", now, 0))

	got := e.get(future.ID)
	require.Empty(t, got.LeaseOwner)
	require.Equal(t, "a", e.get(msgs[1].ID).LeaseOwner)
}

func testClaimLease(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	m := e.enqueue()
	first := e.claimOne("a", t0, m.ID)
	require.False(t, first.Reclaimed)

	require.Empty(t, e.claim("b", t0.Add(time.Second), 10), "leased")
	require.Empty(t, e.claim("b", t0.Add(time.Minute), 10), "the lease holds until LeaseUntil")

	again := e.claimOne("b", t0.Add(time.Minute+time.Millisecond), m.ID)
	require.True(t, again.Reclaimed, "the lease expired without an Advance")
	require.Equal(t, "b", again.LeaseOwner)
	require.Equal(t, t0.Add(2*time.Minute+time.Millisecond), again.LeaseUntil)

	// A message that was advanced and comes due again is not reclaimed.
	require.NoError(t, e.s.Advance(e.ctx, &store.Transition{MessageID: m.ID, Owner: "b",
		Status: store.StatusSending, NextAt: t0.Add(3 * time.Minute), Now: t0.Add(2 * time.Minute)}))
	third := e.claimOne("c", t0.Add(3*time.Minute), m.ID)
	require.False(t, third.Reclaimed)
}

func testClaimCurrentAttempt(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	m := e.enqueue()
	e.send(m.ID, t0, "whatsapp")
	now := t0.Add(time.Minute)
	c := e.claimOne("d", now, m.ID)
	require.Equal(t, 1, c.Attempts)
	require.NotNil(t, c.Current)
	require.Equal(t, store.Attempt{MessageID: m.ID, Seq: 1, Step: 0, Channel: "whatsapp", Status: store.AttemptSent,
		ProviderID: providerID(m.ID, "whatsapp", 1), StartedAt: t0}, *c.Current)
	require.Equal(t, store.StatusSent, c.Status)
	require.Equal(t, "whatsapp", c.Channel)
}

func testAdvance(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	m := e.enqueue()
	e.claimOne("d", t0, m.ID)
	now := t0.Add(time.Second)
	att1 := store.Attempt{MessageID: m.ID, Seq: 1, Step: 0, Channel: "whatsapp", Status: store.AttemptFailed,
		ErrorClass: "transient", Error: "503 from provider", Info: "try 1", Reason: "error", Ambiguous: true,
		Sender: "+15005550006", StartedAt: t0, EndedAt: now}
	att2 := store.Attempt{MessageID: m.ID, Seq: 2, Step: 1, Channel: "sms", Status: store.AttemptSent,
		ProviderID: "SM123", Info: "2 segments, GSM-7", Sender: "SWBOARD", StartedAt: now}
	require.NoError(t, e.s.Advance(e.ctx, &store.Transition{
		MessageID: m.ID, Owner: "d", Attempts: []store.Attempt{att1, att2},
		Status: store.StatusSent, Channel: "sms", Step: 1, Tries: 1, LastError: "whatsapp: 503",
		NextAt: now.Add(time.Minute), Now: now,
	}))
	got := e.get(m.ID)
	require.Equal(t, []store.Attempt{att1, att2}, got.History)
	require.Equal(t, store.StatusSent, got.Status)
	require.Equal(t, "sms", got.Channel)
	require.Equal(t, 1, got.Step)
	require.Equal(t, 1, got.Tries)
	require.Equal(t, 2, got.Attempts)
	require.Equal(t, "whatsapp: 503", got.LastError)
	require.Equal(t, now.Add(time.Minute), got.NextAt)
	require.Equal(t, now, got.UpdatedAt)
	require.Equal(t, t0, got.CreatedAt)
	require.Empty(t, got.LeaseOwner)
	require.True(t, got.LeaseUntil.IsZero())

	require.Empty(t, e.claim("d", now.Add(59*time.Second), 10), "not due before NextAt")

	// Upserting the current attempt again (receipt deadline passed) updates
	// the ending fields but never lowers its status.
	e.claimOne("d", now.Add(time.Minute), m.ID)
	e.receipt(store.ReceiptParams{Channel: "sms", ProviderID: "SM123", Status: store.AttemptUndelivered,
		Error: "carrier said no", At: now.Add(time.Minute), FailoverOnUndelivered: true})
	later := att2
	later.Status, later.Reason, later.EndedAt = store.AttemptSent, "no_receipt", now.Add(time.Minute)
	later.Error, later.ErrorClass, later.Ambiguous = "no receipt in 60s", "timeout", true
	att3 := store.Attempt{MessageID: m.ID, Seq: 3, Step: 2, Channel: "email", Status: store.AttemptSkipped, Reason: "no_address"}
	require.NoError(t, e.s.Advance(e.ctx, &store.Transition{
		MessageID: m.ID, Owner: "d", Attempts: []store.Attempt{later, att3},
		Status: store.StatusFailed, Channel: "email", Step: 2, LastError: "route exhausted", Now: now.Add(time.Minute),
	}))
	got = e.get(m.ID)
	want2 := later
	want2.Status = store.AttemptUndelivered
	require.Equal(t, []store.Attempt{att1, want2, att3}, got.History)
	require.Equal(t, store.StatusFailed, got.Status)
	require.Equal(t, "route exhausted", got.LastError)
	require.Equal(t, "email", got.Channel)
	require.Equal(t, 3, got.Attempts)
	require.True(t, got.NextAt.IsZero(), "final messages are never due")
}

func testAdvanceLeaseLost(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	m := e.enqueue()
	e.claimOne("a", t0, m.ID)
	e.claimOne("b", t0.Add(2*time.Minute), m.ID)

	att := store.Attempt{MessageID: m.ID, Seq: 1, Channel: "whatsapp", Status: store.AttemptSent, ProviderID: "wa-1", StartedAt: t0}
	err := e.s.Advance(e.ctx, &store.Transition{MessageID: m.ID, Owner: "a", Attempts: []store.Attempt{att},
		Status: store.StatusSent, Channel: "whatsapp", NextAt: t0.Add(time.Hour), Now: t0.Add(3 * time.Minute)})
	require.ErrorIs(t, err, store.ErrLeaseLost)

	got := e.get(m.ID)
	require.Equal(t, []store.Attempt{att}, got.History, "attempts are recorded even when the lease is lost")
	require.Equal(t, 1, got.Attempts)
	require.Equal(t, store.StatusQueued, got.Status, "message fields are not the loser's to change")
	require.Empty(t, got.Channel)
	require.Equal(t, "b", got.LeaseOwner, "the new owner keeps its lease")
	require.Equal(t, t0, got.NextAt)

	// The new owner sees the attempt as current and carries on.
	require.NoError(t, e.s.Advance(e.ctx, &store.Transition{MessageID: m.ID, Owner: "b",
		Status: store.StatusSent, Channel: "whatsapp", NextAt: t0.Add(time.Hour), Now: t0.Add(3 * time.Minute)}))
	require.Equal(t, store.StatusSent, e.get(m.ID).Status)

	// No owner never holds a lease.
	err = e.s.Advance(e.ctx, &store.Transition{MessageID: m.ID, Status: store.StatusFailed, Now: t0.Add(4 * time.Minute)})
	require.ErrorIs(t, err, store.ErrLeaseLost)
	require.Equal(t, store.StatusSent, e.get(m.ID).Status)
}

func testAdvanceFinalMessageUntouched(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	m := e.enqueue()
	e.send(m.ID, t0, "whatsapp")
	now := t0.Add(time.Minute)
	c := e.claimOne("d", now, m.ID)
	// The receipt races the dispatcher's failover.
	r := e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: providerID(m.ID, "whatsapp", 1),
		Status: store.AttemptDelivered, At: now})
	require.Equal(t, store.StatusDelivered, r.Status)

	prev := *c.Current
	prev.Reason, prev.EndedAt = "no_receipt", now
	next := store.Attempt{MessageID: m.ID, Seq: 2, Step: 1, Channel: "sms", Status: store.AttemptSent, ProviderID: "sms-x", StartedAt: now}
	require.NoError(t, e.s.Advance(e.ctx, &store.Transition{MessageID: m.ID, Owner: "d",
		Attempts: []store.Attempt{prev, next}, Status: store.StatusSent, Channel: "sms", Step: 1, Tries: 1,
		LastError: "no receipt", NextAt: now.Add(time.Minute), Now: now}))

	got := e.get(m.ID)
	require.Equal(t, store.StatusDelivered, got.Status)
	require.Equal(t, "whatsapp", got.Channel)
	require.Equal(t, 0, got.Step)
	require.Empty(t, got.LastError)
	require.True(t, got.NextAt.IsZero())
	require.Empty(t, got.LeaseOwner, "the owner's lease is dropped")
	require.Equal(t, 2, got.Attempts, "the attempt count follows the recorded attempts")
	require.Len(t, got.History, 2)
	require.Equal(t, store.AttemptDelivered, got.History[0].Status, "a receipt is never overwritten")
	require.Equal(t, "no_receipt", got.History[0].Reason.String())
	require.Equal(t, next, got.History[1])
}

func testAdvanceNotFound(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	err := e.s.Advance(e.ctx, &store.Transition{MessageID: newID(), Owner: "d", Status: store.StatusSent,
		Attempts: []store.Attempt{{Seq: 1, Channel: "sms", Status: store.AttemptSent}}, Now: t0})
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testAdvanceNextAtZeroNotDue(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	m := e.enqueue()
	e.claimOne("d", t0, m.ID)
	require.NoError(t, e.s.Advance(e.ctx, &store.Transition{MessageID: m.ID, Owner: "d",
		Attempts: []store.Attempt{{Seq: 1, Channel: "email", Status: store.AttemptSent, ProviderID: "e1"}},
		Status:   store.StatusSent, Channel: "email", Now: t0}))
	got := e.get(m.ID)
	require.True(t, got.NextAt.IsZero())
	require.Empty(t, e.claim("d", t0.Add(24*365*time.Hour), 10))
	st, err := e.s.Stats(e.ctx, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.QueueStats{Pending: 1}, st)
}

func testStatusNeverMovesBackwards(t *testing.T, open func(t *testing.T) store.Store) {
	order := []store.Status{store.StatusQueued, store.StatusSending, store.StatusSent, store.StatusDelivered}
	for i, from := range order {
		for _, to := range order[:i] {
			t.Run(fmt.Sprintf("%s to %s", from, to), func(t *testing.T) {
				t.Parallel()
				e := setup(t, open)
				m := e.enqueue()
				e.claimOne("d", t0, m.ID)
				require.NoError(t, e.s.Advance(e.ctx, &store.Transition{MessageID: m.ID, Owner: "d",
					Status: from, NextAt: t0.Add(time.Second), Now: t0}))
				if from.Final() {
					require.Empty(t, e.claim("d", t0.Add(time.Second), 10), "final messages are never due")
					return
				}
				e.claimOne("d", t0.Add(time.Second), m.ID)
				require.NoError(t, e.s.Advance(e.ctx, &store.Transition{MessageID: m.ID, Owner: "d",
					Status: to, NextAt: t0.Add(2 * time.Second), Now: t0.Add(time.Second)}))
				got := e.get(m.ID)
				require.Equal(t, from, got.Status)
				require.Equal(t, t0.Add(2*time.Second), got.NextAt, "the rest of the transition applies")
			})
		}
	}
	// Receipts never lower a final status either.
	t.Run("receipt after failed", func(t *testing.T) {
		t.Parallel()
		e := setup(t, open)
		m := e.enqueue()
		e.send(m.ID, t0, "sms")
		e.fail(m.ID, t0.Add(time.Minute), store.StatusFailed)
		r := e.receipt(store.ReceiptParams{Channel: "sms", ProviderID: providerID(m.ID, "sms", 1), Status: store.AttemptUndelivered, At: t0.Add(2 * time.Minute)})
		require.Equal(t, store.StatusFailed, r.Status)
		require.Equal(t, store.StatusFailed, e.get(m.ID).Status)
	})
}

func testRelease(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	a1, a2 := e.enqueue(), e.enqueue()
	b1 := e.enqueue(func(m *store.Message) { m.NextAt = t0.Add(time.Second) })
	require.Len(t, e.claim("a", t0, 10), 2)
	require.Len(t, e.claim("b", t0.Add(time.Second), 10), 1)

	require.NoError(t, e.s.Release(e.ctx, "a"))
	require.NoError(t, e.s.Release(e.ctx, "nobody"))
	got := e.claim("c", t0.Add(time.Second), 10)
	require.ElementsMatch(t, []string{a1.ID, a2.ID}, ids(got), "released at once, not after the lease")
	for _, m := range got {
		require.False(t, m.Reclaimed, "a released message was not abandoned")
		require.Equal(t, store.StatusQueued, m.Status)
		require.Equal(t, t0, m.NextAt)
	}
	require.Equal(t, "b", e.get(b1.ID).LeaseOwner)
}

type receiptCase struct {
	name string
	// setup enqueues and drives a message; it returns the message id.
	setup    func(e *env) string
	receipts []store.ReceiptParams // all but the last must succeed
	want     store.ReceiptResult   // of the last receipt; MessageID is filled in
	check    func(t *testing.T, m *store.Message)
}

// rc builds a receipt for attempt seq of the message set up by the case;
// the message id is filled in when the case runs.
func rc(channel string, seq int, st store.AttemptStatus, at time.Duration) store.ReceiptParams {
	return store.ReceiptParams{Channel: channel, ProviderID: fmt.Sprint(seq), Status: st, At: t0.Add(at)}
}

func testReceipts(t *testing.T, open func(t *testing.T) store.Store) {
	sentOn := func(channels ...string) func(e *env) string {
		return func(e *env) string {
			m := e.enqueue()
			for i, ch := range channels {
				e.send(m.ID, t0.Add(time.Duration(i)*time.Minute), ch)
			}
			return m.ID
		}
	}
	failedAfter := func(status store.Status, channels ...string) func(e *env) string {
		return func(e *env) string {
			id := sentOn(channels...)(e)
			e.fail(id, t0.Add(time.Duration(len(channels))*time.Minute), status)
			return id
		}
	}
	withError := func(p store.ReceiptParams, msg string, failover bool) store.ReceiptParams {
		p.Error, p.FailoverOnUndelivered = msg, failover
		return p
	}
	tests := []receiptCase{
		{
			name:     "delivered on current attempt",
			setup:    sentOn("whatsapp"),
			receipts: []store.ReceiptParams{rc("whatsapp", 1, store.AttemptDelivered, 5*time.Second)},
			want:     store.ReceiptResult{Seq: 1, Status: store.StatusDelivered, Changed: true},
			check: func(t *testing.T, m *store.Message) {
				require.Equal(t, "whatsapp", m.Channel)
				require.True(t, m.NextAt.IsZero())
				require.Equal(t, store.AttemptDelivered, m.History[0].Status)
				require.Equal(t, t0.Add(5*time.Second), m.History[0].DeliveredAt)
				require.False(t, m.History[0].Late)
				require.False(t, m.Duplicate)
			},
		},
		{
			name:  "read after delivered on the same channel",
			setup: sentOn("whatsapp"),
			receipts: []store.ReceiptParams{
				rc("whatsapp", 1, store.AttemptDelivered, 5*time.Second),
				rc("whatsapp", 1, store.AttemptRead, 9*time.Second),
			},
			want: store.ReceiptResult{Seq: 1, Status: store.StatusRead, Changed: true},
			check: func(t *testing.T, m *store.Message) {
				require.Equal(t, store.AttemptRead, m.History[0].Status)
				require.Equal(t, t0.Add(5*time.Second), m.History[0].DeliveredAt, "delivered time is kept")
				require.False(t, m.Duplicate)
			},
		},
		{
			name:     "read without delivered",
			setup:    sentOn("whatsapp"),
			receipts: []store.ReceiptParams{rc("whatsapp", 1, store.AttemptRead, 5*time.Second)},
			want:     store.ReceiptResult{Seq: 1, Status: store.StatusRead, Changed: true},
		},
		{
			name:     "late delivery after failover wins over the fallback in flight",
			setup:    sentOn("whatsapp", "sms"),
			receipts: []store.ReceiptParams{rc("whatsapp", 1, store.AttemptDelivered, 70*time.Second)},
			want:     store.ReceiptResult{Seq: 1, Late: true, Status: store.StatusDelivered, Changed: true},
			check: func(t *testing.T, m *store.Message) {
				require.Equal(t, "whatsapp", m.Channel)
				require.True(t, m.NextAt.IsZero())
				require.True(t, m.History[0].Late)
				require.Equal(t, store.AttemptDelivered, m.History[0].Status)
				require.Equal(t, store.AttemptSent, m.History[1].Status)
				require.False(t, m.Duplicate)
			},
		},
		{
			name:  "late delivery after the fallback delivered is a duplicate",
			setup: sentOn("whatsapp", "sms"),
			receipts: []store.ReceiptParams{
				rc("sms", 2, store.AttemptDelivered, 65*time.Second),
				rc("whatsapp", 1, store.AttemptDelivered, 70*time.Second),
			},
			want: store.ReceiptResult{Seq: 1, Late: true, Status: store.StatusDelivered, Duplicate: true, Changed: true},
			check: func(t *testing.T, m *store.Message) {
				require.Equal(t, "sms", m.Channel, "the first delivery keeps the channel")
				require.True(t, m.Duplicate)
				require.True(t, m.History[0].Late)
				require.False(t, m.History[1].Late)
			},
		},
		{
			name:  "fallback delivered after a late delivery is a duplicate",
			setup: sentOn("whatsapp", "sms"),
			receipts: []store.ReceiptParams{
				rc("whatsapp", 1, store.AttemptDelivered, 65*time.Second),
				rc("sms", 2, store.AttemptDelivered, 70*time.Second),
			},
			want: store.ReceiptResult{Seq: 2, Late: true, Status: store.StatusDelivered, Duplicate: true, Changed: true},
			check: func(t *testing.T, m *store.Message) {
				require.Equal(t, "whatsapp", m.Channel)
				require.True(t, m.Duplicate)
			},
		},
		{
			name:  "late read on another channel beats delivered",
			setup: sentOn("whatsapp", "sms"),
			receipts: []store.ReceiptParams{
				rc("sms", 2, store.AttemptDelivered, 65*time.Second),
				rc("whatsapp", 1, store.AttemptRead, 70*time.Second),
			},
			want: store.ReceiptResult{Seq: 1, Late: true, Status: store.StatusRead, Duplicate: true, Changed: true},
		},
		{
			name:  "late delivered on another channel never lowers read",
			setup: sentOn("whatsapp", "sms"),
			receipts: []store.ReceiptParams{
				rc("sms", 2, store.AttemptRead, 65*time.Second),
				rc("whatsapp", 1, store.AttemptDelivered, 70*time.Second),
			},
			want: store.ReceiptResult{Seq: 1, Late: true, Status: store.StatusRead, Duplicate: true, Changed: true},
		},
		{
			name:     "late delivery on a failed message",
			setup:    failedAfter(store.StatusFailed, "whatsapp", "sms"),
			receipts: []store.ReceiptParams{rc("whatsapp", 1, store.AttemptDelivered, 3*time.Minute)},
			want:     store.ReceiptResult{Seq: 1, Late: true, Status: store.StatusDelivered, Changed: true},
			check: func(t *testing.T, m *store.Message) {
				require.Equal(t, "whatsapp", m.Channel)
				require.False(t, m.Duplicate)
				require.True(t, m.History[0].Late)
			},
		},
		{
			name:     "delivery of the last attempt on an expired message",
			setup:    failedAfter(store.StatusExpired, "whatsapp"),
			receipts: []store.ReceiptParams{rc("whatsapp", 1, store.AttemptDelivered, 3*time.Minute)},
			want:     store.ReceiptResult{Seq: 1, Status: store.StatusDelivered, Changed: true},
		},
		{
			name:  "stale sent after delivered is ignored",
			setup: sentOn("whatsapp"),
			receipts: []store.ReceiptParams{
				rc("whatsapp", 1, store.AttemptDelivered, 5*time.Second),
				rc("whatsapp", 1, store.AttemptSent, 6*time.Second),
			},
			want: store.ReceiptResult{Seq: 1, Status: store.StatusDelivered},
			check: func(t *testing.T, m *store.Message) {
				require.Equal(t, store.AttemptDelivered, m.History[0].Status)
			},
		},
		{
			name:  "repeated delivered is ignored",
			setup: sentOn("whatsapp"),
			receipts: []store.ReceiptParams{
				rc("whatsapp", 1, store.AttemptDelivered, 5*time.Second),
				rc("whatsapp", 1, store.AttemptDelivered, 6*time.Second),
			},
			want: store.ReceiptResult{Seq: 1, Status: store.StatusDelivered},
			check: func(t *testing.T, m *store.Message) {
				require.Equal(t, t0.Add(5*time.Second), m.History[0].DeliveredAt)
			},
		},
		{
			name:  "undelivered after delivered is ignored",
			setup: sentOn("whatsapp"),
			receipts: []store.ReceiptParams{
				rc("whatsapp", 1, store.AttemptDelivered, 5*time.Second),
				rc("whatsapp", 1, store.AttemptUndelivered, 6*time.Second),
			},
			want: store.ReceiptResult{Seq: 1, Status: store.StatusDelivered},
		},
		{
			name:     "sent on a sent attempt is ignored",
			setup:    sentOn("whatsapp"),
			receipts: []store.ReceiptParams{rc("whatsapp", 1, store.AttemptSent, 5*time.Second)},
			want:     store.ReceiptResult{Seq: 1, Status: store.StatusSent},
		},
		{
			name:     "undelivered on the current attempt fails over",
			setup:    sentOn("whatsapp"),
			receipts: []store.ReceiptParams{withError(rc("whatsapp", 1, store.AttemptUndelivered, 5*time.Second), "63016 outside window", true)},
			want:     store.ReceiptResult{Seq: 1, Status: store.StatusSent, Changed: true},
			check: func(t *testing.T, m *store.Message) {
				require.Equal(t, t0.Add(5*time.Second), m.NextAt, "due now")
				require.Equal(t, "63016 outside window", m.LastError)
				require.Equal(t, store.AttemptUndelivered, m.History[0].Status)
				require.Equal(t, "63016 outside window", m.History[0].Error)
			},
		},
		{
			name:     "undelivered on the current attempt without failover fails the message",
			setup:    sentOn("whatsapp"),
			receipts: []store.ReceiptParams{withError(rc("whatsapp", 1, store.AttemptUndelivered, 5*time.Second), "unreachable", false)},
			want:     store.ReceiptResult{Seq: 1, Status: store.StatusFailed, Changed: true},
			check: func(t *testing.T, m *store.Message) {
				require.True(t, m.NextAt.IsZero())
				require.Equal(t, "unreachable", m.LastError)
			},
		},
		{
			name:     "undelivered on an earlier attempt is only recorded",
			setup:    sentOn("whatsapp", "sms"),
			receipts: []store.ReceiptParams{withError(rc("whatsapp", 1, store.AttemptUndelivered, 70*time.Second), "expired", true)},
			want:     store.ReceiptResult{Seq: 1, Late: true, Status: store.StatusSent, Changed: true},
			check: func(t *testing.T, m *store.Message) {
				require.Equal(t, t0.Add(90*time.Second), m.NextAt, "the fallback's deadline stands")
				require.Empty(t, m.LastError)
				require.Equal(t, "sms", m.Channel)
				require.Equal(t, store.AttemptUndelivered, m.History[0].Status)
				require.True(t, m.History[0].Late)
			},
		},
		{
			name:  "delivered after undelivered",
			setup: sentOn("whatsapp"),
			receipts: []store.ReceiptParams{
				withError(rc("whatsapp", 1, store.AttemptUndelivered, 5*time.Second), "temporary", true),
				rc("whatsapp", 1, store.AttemptDelivered, 6*time.Second),
			},
			want: store.ReceiptResult{Seq: 1, Status: store.StatusDelivered, Changed: true},
			check: func(t *testing.T, m *store.Message) {
				require.True(t, m.NextAt.IsZero())
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, open)
			id := tc.setup(e)
			var got store.ReceiptResult
			for _, p := range tc.receipts {
				var seq int
				_, _ = fmt.Sscan(p.ProviderID, &seq)
				p.ProviderID = providerID(id, p.Channel, seq)
				got = e.receipt(p)
			}
			want := tc.want
			want.MessageID = id
			require.Equal(t, want, got)
			m := e.get(id)
			require.Equal(t, want.Status, m.Status)
			require.Equal(t, want.Duplicate, m.Duplicate)
			if tc.check != nil {
				tc.check(t, m)
			}
		})
	}

	t.Run("lease is untouched", func(t *testing.T) {
		t.Parallel()
		e := setup(t, open)
		m := e.enqueue()
		e.send(m.ID, t0, "sms")
		e.claimOne("d", t0.Add(time.Minute), m.ID)
		r := e.receipt(store.ReceiptParams{Channel: "sms", ProviderID: providerID(m.ID, "sms", 1), Status: store.AttemptDelivered, At: t0.Add(time.Minute)})
		require.Equal(t, store.StatusDelivered, r.Status)
		got := e.get(m.ID)
		require.Equal(t, "d", got.LeaseOwner)
		require.Equal(t, t0.Add(2*time.Minute), got.LeaseUntil)
	})

	t.Run("undelivered with failover makes it claimable", func(t *testing.T) {
		t.Parallel()
		e := setup(t, open)
		m := e.enqueue()
		e.send(m.ID, t0, "whatsapp")
		e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: providerID(m.ID, "whatsapp", 1),
			Status: store.AttemptUndelivered, Error: "blocked", At: t0.Add(time.Second), FailoverOnUndelivered: true})
		c := e.claimOne("d", t0.Add(time.Second), m.ID)
		require.Equal(t, store.AttemptUndelivered, c.Current.Status)
	})
}

func testReceiptNotFound(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	m := e.enqueue()
	e.send(m.ID, t0, "sms")
	for _, p := range []store.ReceiptParams{
		{Channel: "sms", ProviderID: "unknown", Status: store.AttemptDelivered, At: t0},
		{Channel: "whatsapp", ProviderID: providerID(m.ID, "sms", 1), Status: store.AttemptDelivered, At: t0},
		{Channel: "sms", ProviderID: "", Status: store.AttemptDelivered, At: t0},
	} {
		_, err := e.s.RecordReceipt(e.ctx, p)
		require.ErrorIs(t, err, store.ErrNotFound, "%+v", p)
	}
	require.Equal(t, store.StatusSent, e.get(m.ID).Status)
}

func testListFilters(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	phone := e.enqueue(func(m *store.Message) { m.To = store.Recipient{Phone: "+1999"} })
	wa := e.enqueue(func(m *store.Message) { m.To = store.Recipient{WhatsApp: "+1999"}; m.Policy = "default" })
	email := e.enqueue(func(m *store.Message) { m.To = store.Recipient{Email: "x@example.com"}; m.NextAt = t0.Add(-time.Hour) })
	tg := e.enqueue(func(m *store.Message) { m.To = store.Recipient{Telegram: "+1999"}; m.Policy = "default" })
	other := e.enqueue(func(m *store.Message) { m.To = store.Recipient{Phone: "+1000", Email: "+1999x"} })
	e.send(email.ID, t0.Add(-time.Hour), "sms") // the only one due then

	tests := []struct {
		name string
		p    store.ListParams
		want []*store.Message
	}{
		{"all", store.ListParams{}, []*store.Message{other, tg, email, wa, phone}},
		{"to matches any recipient field", store.ListParams{To: "+1999"}, []*store.Message{tg, wa, phone}},
		{"to email", store.ListParams{To: "x@example.com"}, []*store.Message{email}},
		{"to nobody", store.ListParams{To: "+1555"}, nil},
		{"status", store.ListParams{Status: store.StatusSent}, []*store.Message{email}},
		{"status queued", store.ListParams{Status: store.StatusQueued}, []*store.Message{other, tg, wa, phone}},
		{"channel", store.ListParams{Channel: "sms"}, []*store.Message{email}},
		{"policy", store.ListParams{Policy: "default"}, []*store.Message{tg, wa}},
		{"combined", store.ListParams{To: "+1999", Policy: "otp"}, []*store.Message{phone}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := e.s.List(e.ctx, tc.p)
			require.NoError(t, err)
			require.Equal(t, ids(tc.want), ids(res.Messages))
			require.Empty(t, res.NextCursor)
			for _, m := range res.Messages {
				require.Empty(t, m.History)
			}
		})
	}
}

// IDAt is a new UUIDv7 message id accepted at t: for tests that need
// messages of a given age (time ranges, retention).
func IDAt(t time.Time) string {
	u := uuid.Must(uuid.NewV7())
	ms := t.UnixMilli()
	for i := 5; i >= 0; i-- {
		u[i] = byte(ms)
		ms >>= 8
	}
	return u.String()
}

// testListSearch: the dashboard's filters (tag, accept time range), alone,
// with each other and with the older filters, and paging through them.
func testListSearch(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	m1 := e.enqueue(func(m *store.Message) { m.ID = IDAt(at(0)); m.Tags = []string{"otp"} })
	m2 := e.enqueue(func(m *store.Message) { m.ID = IDAt(at(10)); m.Tags = []string{"order", "otp", "otp"} })
	m3 := e.enqueue(func(m *store.Message) {
		m.ID = IDAt(at(20))
		m.Tags = []string{"order"}
		m.To = store.Recipient{Email: "bo@example.com"}
	})
	m4 := e.enqueue(func(m *store.Message) { m.ID = IDAt(at(30)); m.Policy = "default" })
	m5 := e.enqueue(func(m *store.Message) {
		m.ID = IDAt(at(40))
		m.Tags = []string{"otp"}
		m.To = store.Recipient{Telegram: "4242"}
	})
	// A replay stores nothing, tags included.
	_, replayed, err := e.s.Enqueue(e.ctx, newMessage(func(m *store.Message) {
		m.IdempotencyKey = "k"
		m.ID = IDAt(at(50))
		m.Tags = []string{"otp"}
	}))
	require.NoError(t, err)
	require.False(t, replayed)
	m6 := e.get(mustList(t, e, store.ListParams{Limit: 1}).Messages[0].ID)
	_, replayed, err = e.s.Enqueue(e.ctx, newMessage(func(m *store.Message) {
		m.IdempotencyKey = "k"
		m.ID = IDAt(at(51))
		m.Tags = []string{"otp"}
	}))
	require.NoError(t, err)
	require.True(t, replayed)

	tests := []struct {
		name string
		p    store.ListParams
		want []*store.Message
	}{
		{"tag", store.ListParams{Tag: "otp"}, []*store.Message{m6, m5, m2, m1}},
		{"other tag", store.ListParams{Tag: "order"}, []*store.Message{m3, m2}},
		{"unknown tag", store.ListParams{Tag: "nope"}, nil},
		{"tag is exact", store.ListParams{Tag: "ot"}, nil},
		{"since is inclusive", store.ListParams{Since: at(20)}, []*store.Message{m6, m5, m4, m3}},
		{"until is exclusive", store.ListParams{Until: at(20)}, []*store.Message{m2, m1}},
		{"range", store.ListParams{Since: at(5), Until: at(35)}, []*store.Message{m4, m3, m2}},
		{"empty range", store.ListParams{Since: at(35), Until: at(35)}, nil},
		{"tag and range", store.ListParams{Tag: "otp", Since: at(5), Until: at(45)}, []*store.Message{m5, m2}},
		{"tag and recipient", store.ListParams{Tag: "otp", To: "+15551234567"}, []*store.Message{m6, m2, m1}},
		{"tag and recipient and range", store.ListParams{Tag: "order", To: "+15551234567", Until: at(15)}, []*store.Message{m2}},
		{"recipient and range", store.ListParams{To: "+15551234567", Since: at(10), Until: at(40)}, []*store.Message{m4, m2}},
		{"tag and policy", store.ListParams{Tag: "otp", Policy: "otp"}, []*store.Message{m6, m5, m2, m1}},
		{"tag and status", store.ListParams{Tag: "order", Status: store.StatusQueued}, []*store.Message{m3, m2}},
		{"tag and a rare status", store.ListParams{Tag: "order", Status: store.StatusFailed}, nil},
		{"range and policy", store.ListParams{Policy: "default", Since: at(0)}, []*store.Message{m4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := mustList(t, e, tc.p)
			require.Equal(t, ids(tc.want), ids(res.Messages))
			require.Empty(t, res.NextCursor)
		})
	}
	t.Run("paging by tag and range", func(t *testing.T) {
		t.Parallel()
		var got []string
		cursor := ""
		for {
			res := mustList(t, e, store.ListParams{Tag: "otp", Until: at(45), Limit: 1, Cursor: cursor})
			got = append(got, ids(res.Messages)...)
			if cursor = res.NextCursor; cursor == "" {
				break
			}
			require.Less(t, len(got), 10, "paging must end")
		}
		require.Equal(t, ids([]*store.Message{m5, m2, m1}), got)
	})
	t.Run("IDFloor orders like ids", func(t *testing.T) {
		t.Parallel()
		for _, m := range []*store.Message{m1, m2, m3} {
			require.Less(t, store.IDFloor(t0), m.ID)
		}
		require.Less(t, m1.ID, store.IDFloor(at(1)))
		require.Equal(t, "00000000-0000-0000-0000-000000000000", store.IDFloor(time.Time{}))
	})
}

func mustList(t *testing.T, e *env, p store.ListParams) store.ListResult {
	t.Helper()
	res, err := e.s.List(e.ctx, p)
	require.NoError(t, err)
	return res
}

func testListPaging(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range []struct{ total, limit int }{{23, 5}, {10, 5}, {3, 5}, {0, 5}, {7, 1}} {
		t.Run(fmt.Sprintf("%d by %d", tc.total, tc.limit), func(t *testing.T) {
			t.Parallel()
			e := setup(t, open)
			var want []string
			for range tc.total {
				want = append(want, e.enqueue(func(m *store.Message) { m.Policy = "p" }).ID)
			}
			e.enqueue(func(m *store.Message) { m.Policy = "other" }) // filtered out on every page
			slices.Reverse(want)

			var got []string
			cursor, pages := "", 0
			for {
				res, err := e.s.List(e.ctx, store.ListParams{Policy: "p", Limit: tc.limit, Cursor: cursor})
				require.NoError(t, err)
				pages++
				require.LessOrEqual(t, len(res.Messages), tc.limit)
				got = append(got, ids(res.Messages)...)
				if res.NextCursor == "" {
					break
				}
				require.Len(t, res.Messages, tc.limit, "only the last page is short")
				// A message arriving between pages is newer than the cursor
				// and must not shift the pages that follow.
				e.enqueue(func(m *store.Message) { m.Policy = "p" })
				cursor = res.NextCursor
				require.LessOrEqual(t, pages, tc.total+1, "paging must end")
			}
			if len(want) == 0 {
				want = nil
			}
			require.Equal(t, want, got, "newest first, no gaps, no duplicates")
			require.Equal(t, max(1, (tc.total+tc.limit-1)/tc.limit), pages, "no empty last page")
		})
	}
	t.Run("bad cursor", func(t *testing.T) {
		t.Parallel()
		e := setup(t, open)
		_, err := e.s.List(e.ctx, store.ListParams{Cursor: "!!not a cursor!!"})
		require.ErrorIs(t, err, store.ErrInvalidCursor)
	})
}

func testListLimits(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	var wg sync.WaitGroup
	errs := make(chan error, 501)
	for range 501 {
		wg.Go(func() {
			_, _, err := e.s.Enqueue(e.ctx, newMessage())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, tc := range []struct{ limit, want int }{{0, 50}, {-1, 50}, {10, 10}, {500, 500}, {1000, 500}} {
		res, err := e.s.List(e.ctx, store.ListParams{Limit: tc.limit})
		require.NoError(t, err)
		require.Len(t, res.Messages, tc.want, "limit %d", tc.limit)
		require.NotEmpty(t, res.NextCursor)
	}
}

func testStats(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	st, err := e.s.Stats(e.ctx, t0)
	require.NoError(t, err)
	require.Equal(t, store.QueueStats{}, st)

	e.enqueue(func(m *store.Message) { m.NextAt = t0.Add(-2 * time.Minute) }) // leased below
	e.enqueue(func(m *store.Message) { m.NextAt = t0.Add(-time.Minute) })
	e.enqueue(func(m *store.Message) { m.NextAt = t0 })
	e.enqueue(func(m *store.Message) { m.NextAt = t0.Add(time.Hour) })
	require.Len(t, e.claim("d", t0.Add(-30*time.Second), 1), 1) // leased until t0+30s
	done := e.enqueue(func(m *store.Message) { m.NextAt = t0.Add(-time.Hour) })
	e.send(done.ID, t0.Add(-time.Hour), "sms")
	e.receipt(store.ReceiptParams{Channel: "sms", ProviderID: providerID(done.ID, "sms", 1), Status: store.AttemptDelivered, At: t0})

	st, err = e.s.Stats(e.ctx, t0)
	require.NoError(t, err)
	require.Equal(t, store.QueueStats{Pending: 4, Due: 2, OldestDue: t0.Add(-time.Minute)}, st)

	st, err = e.s.Stats(e.ctx, t0.Add(2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.QueueStats{Pending: 4, Due: 4, OldestDue: t0.Add(-2 * time.Minute)}, st, "the lease expired")
}

func testClose(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	m := e.enqueue()
	require.NoError(t, e.s.Close())
	require.NoError(t, e.s.Close(), "closing twice is safe")
	_, _, err := e.s.Enqueue(e.ctx, newMessage())
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = e.s.Claim(e.ctx, store.ClaimParams{Owner: "d", Limit: 1, Now: t0})
	require.ErrorIs(t, err, store.ErrClosed)
	require.ErrorIs(t, e.s.Advance(e.ctx, &store.Transition{MessageID: m.ID, Owner: "d", Now: t0}), store.ErrClosed)
	_, err = e.s.Get(e.ctx, m.ID)
	require.ErrorIs(t, err, store.ErrClosed)
	require.ErrorIs(t, e.s.Ping(e.ctx), store.ErrClosed)
}
