package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// RunCallbacks runs the status callback outbox suite (store.CallbackOutbox,
// part of store.Store) against stores made by open; Run calls it too.
//
// The contract it pins: a message with a callback_url gets one callback row
// per status it reaches after queued (sending, sent, delivered, read,
// failed, expired) and one when it becomes a duplicate, written by the same
// Advance or RecordReceipt that made the change (none when the change is
// not made). The payload names the attempt that caused the change. Claims
// take at most one callback per message, its oldest pending one, so a
// message's callbacks are delivered in order.
func RunCallbacks(t *testing.T, open func(t *testing.T) store.Store) {
	suite := []struct {
		name string
		fn   func(t *testing.T, e *cbEnv)
	}{
		{"OnePerStatusChange", testCallbackPerStatusChange},
		{"NoCallbackURL", testCallbackNoURL},
		{"NoneWithoutAChange", testCallbackNoneWithoutChange},
		{"Fallback", testCallbackFallback},
		{"Duplicate", testCallbackDuplicate},
		{"FailedAndExpired", testCallbackFailedAndExpired},
		{"OrderPerMessage", testCallbackOrder},
		{"LeaseAndRetry", testCallbackLeaseAndRetry},
		{"Defer", testCallbackDefer},
	}
	for _, tc := range suite {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, open)
			tc.fn(t, &cbEnv{env: e, o: e.s})
		})
	}
}

type cbEnv struct {
	*env
	o store.CallbackOutbox
}

const hookURL = "https://app.example.com/hooks/switchboard"

func withCallback(m *store.Message) {
	m.CallbackURL = hookURL
	m.IdempotencyScope = "shop"
}

func (e *cbEnv) callbacks(id string) []store.Callback {
	e.t.Helper()
	cbs, err := e.o.Callbacks(e.ctx, id)
	require.NoError(e.t, err)
	return cbs
}

func payloadOf(t *testing.T, cb store.Callback) store.CallbackPayload {
	t.Helper()
	var p store.CallbackPayload
	require.NoError(t, json.Unmarshal(cb.Payload, &p), "payload %s", cb.Payload)
	p.Timestamp = p.Timestamp.UTC()
	return p
}

// payloads returns the message's callback payloads, oldest first.
func (e *cbEnv) payloads(id string) []store.CallbackPayload {
	e.t.Helper()
	var out []store.CallbackPayload
	for _, cb := range e.callbacks(id) {
		out = append(out, payloadOf(e.t, cb))
	}
	return out
}

func (e *cbEnv) claimCBs(owner string, now time.Time, limit int) []store.Callback {
	e.t.Helper()
	cbs, err := e.o.ClaimCallbacks(e.ctx, owner, time.Minute, limit, now)
	require.NoError(e.t, err)
	return cbs
}

func (e *cbEnv) finish(r store.CallbackResult) {
	e.t.Helper()
	require.NoError(e.t, e.o.FinishCallback(e.ctx, r))
}

func cbIDs(cbs []store.Callback) []int64 {
	out := make([]int64, len(cbs))
	for i, cb := range cbs {
		out[i] = cb.ID
	}
	return out
}

func testCallbackPerStatusChange(t *testing.T, e *cbEnv) {
	m := e.enqueue(withCallback)
	require.Empty(t, e.callbacks(m.ID), "no callback for queued: the 202 said so")

	e.send(m.ID, t0, "whatsapp")
	cbs := e.callbacks(m.ID)
	require.Len(t, cbs, 1)
	cb := cbs[0]
	require.NotZero(t, cb.ID)
	require.Equal(t, m.ID, cb.MessageID)
	require.Equal(t, hookURL, cb.URL)
	require.Equal(t, "shop", cb.Scope, "the sending API key's name signs it")
	require.Equal(t, store.CallbackPending, cb.Status)
	require.Zero(t, cb.Attempts)
	require.Empty(t, cb.LastError)
	require.Equal(t, t0, cb.CreatedAt)
	require.Equal(t, t0, cb.NextAt, "due at once")
	require.True(t, cb.FinishedAt.IsZero())
	require.Equal(t, store.CallbackPayload{ID: m.ID, Status: store.StatusSent, Channel: "whatsapp", Attempt: 1,
		Timestamp: t0}, payloadOf(t, cb))
	var raw map[string]any
	require.NoError(t, json.Unmarshal(cb.Payload, &raw))
	require.ElementsMatch(t, []string{"id", "status", "channel", "attempt", "is_fallback", "duplicate", "timestamp"},
		keys(raw), "the documented webhook body")

	pid := providerID(m.ID, "whatsapp", 1)
	e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: pid, Status: store.AttemptDelivered, At: t0.Add(5 * time.Second)})
	e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: pid, Status: store.AttemptDelivered, At: t0.Add(6 * time.Second)})
	e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: pid, Status: store.AttemptRead, At: t0.Add(9 * time.Second)})
	e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: pid, Status: store.AttemptDelivered, At: t0.Add(10 * time.Second)})
	require.Equal(t, []store.CallbackPayload{
		{ID: m.ID, Status: store.StatusSent, Channel: "whatsapp", Attempt: 1, Timestamp: t0},
		{ID: m.ID, Status: store.StatusDelivered, Channel: "whatsapp", Attempt: 1, Timestamp: t0.Add(5 * time.Second)},
		{ID: m.ID, Status: store.StatusRead, Channel: "whatsapp", Attempt: 1, Timestamp: t0.Add(9 * time.Second)},
	}, e.payloads(m.ID), "repeated and stale receipts change nothing and queue nothing")
	cbs = e.callbacks(m.ID)
	require.Equal(t, t0.Add(5*time.Second), cbs[1].CreatedAt)
	require.Less(t, cbs[0].ID, cbs[1].ID)
	require.Less(t, cbs[1].ID, cbs[2].ID)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func testCallbackNoURL(t *testing.T, e *cbEnv) {
	m := e.enqueue()
	e.send(m.ID, t0, "whatsapp")
	e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: providerID(m.ID, "whatsapp", 1), Status: store.AttemptDelivered, At: t0.Add(time.Second)})
	require.Empty(t, e.callbacks(m.ID))
	require.Empty(t, e.claimCBs("s", t0.Add(time.Hour), 10))
	cbs, err := e.o.Callbacks(e.ctx, newID())
	require.NoError(t, err, "an unknown message has no callbacks")
	require.Empty(t, cbs)
}

// A write that changes no status, or that is refused, queues nothing.
func testCallbackNoneWithoutChange(t *testing.T, e *cbEnv) {
	m := e.enqueue(withCallback)
	e.send(m.ID, t0, "whatsapp")
	// Failover on no_receipt: still sent, now on sms.
	e.send(m.ID, t0.Add(time.Minute), "sms")
	require.Len(t, e.callbacks(m.ID), 1, "sent -> sent is no change")

	// A lost lease records attempts but changes no status.
	e.claimOne("a", t0.Add(2*time.Minute), m.ID)
	e.claimOne("b", t0.Add(4*time.Minute), m.ID)
	err := e.s.Advance(e.ctx, &store.Transition{MessageID: m.ID, Owner: "a", Status: store.StatusFailed,
		LastError: "route exhausted", Now: t0.Add(5 * time.Minute)})
	require.ErrorIs(t, err, store.ErrLeaseLost)
	require.Len(t, e.callbacks(m.ID), 1)

	// An undelivered receipt that makes the message due (failover) is no
	// status change either.
	e.receipt(store.ReceiptParams{Channel: "sms", ProviderID: providerID(m.ID, "sms", 2), Status: store.AttemptUndelivered,
		Error: "carrier", At: t0.Add(6 * time.Minute), FailoverOnUndelivered: true})
	require.Len(t, e.callbacks(m.ID), 1)

	// A receipt racing the dispatcher made it final: the dispatcher's
	// Advance changes nothing and queues nothing.
	m2 := e.enqueue(withCallback)
	e.send(m2.ID, t0, "whatsapp")
	e.claimOne("d", t0.Add(time.Minute), m2.ID)
	e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: providerID(m2.ID, "whatsapp", 1), Status: store.AttemptDelivered, At: t0.Add(time.Minute)})
	require.NoError(t, e.s.Advance(e.ctx, &store.Transition{MessageID: m2.ID, Owner: "d", Status: store.StatusFailed, Now: t0.Add(time.Minute)}))
	require.Equal(t, []store.Status{store.StatusSent, store.StatusDelivered}, statuses(e.payloads(m2.ID)))

	// Not found: nothing.
	require.ErrorIs(t, e.s.Advance(e.ctx, &store.Transition{MessageID: newID(), Owner: "d", Status: store.StatusSent, Now: t0}), store.ErrNotFound)
	require.Empty(t, e.claimCBs("s", t0.Add(-time.Hour), 10), "nothing is due before its change")
}

func statuses(ps []store.CallbackPayload) []store.Status {
	out := make([]store.Status, len(ps))
	for i, p := range ps {
		out[i] = p.Status
	}
	return out
}

// A transient failure makes the message sending; failing over to sms makes
// it sent with is_fallback, on the attempt that sent it.
func testCallbackFallback(t *testing.T, e *cbEnv) {
	m := e.enqueue(withCallback)
	e.claimOne("d", t0, m.ID)
	a1 := store.Attempt{MessageID: m.ID, Seq: 1, Channel: "whatsapp", Status: store.AttemptFailed, ErrorClass: "transient", StartedAt: t0, EndedAt: t0}
	require.NoError(t, e.s.Advance(e.ctx, &store.Transition{MessageID: m.ID, Owner: "d", Attempts: []store.Attempt{a1},
		Status: store.StatusSending, Tries: 1, LastError: "whatsapp: 503", NextAt: t0.Add(time.Second), Now: t0}))
	now := t0.Add(time.Second)
	e.claimOne("d", now, m.ID)
	a2 := store.Attempt{MessageID: m.ID, Seq: 2, Channel: "whatsapp", Status: store.AttemptFailed, Reason: "error", StartedAt: now, EndedAt: now}
	a3 := store.Attempt{MessageID: m.ID, Seq: 3, Step: 1, Channel: "sms", Status: store.AttemptSent, ProviderID: "sms-3", StartedAt: now}
	require.NoError(t, e.s.Advance(e.ctx, &store.Transition{MessageID: m.ID, Owner: "d", Attempts: []store.Attempt{a2, a3},
		Status: store.StatusSent, Channel: "sms", Step: 1, NextAt: now.Add(time.Minute), Now: now}))
	e.receipt(store.ReceiptParams{Channel: "sms", ProviderID: "sms-3", Status: store.AttemptDelivered, At: now.Add(2 * time.Second)})
	require.Equal(t, []store.CallbackPayload{
		{ID: m.ID, Status: store.StatusSending, Channel: "whatsapp", Attempt: 1, Timestamp: t0},
		{ID: m.ID, Status: store.StatusSent, Channel: "sms", Attempt: 3, IsFallback: true, Timestamp: now},
		{ID: m.ID, Status: store.StatusDelivered, Channel: "sms", Attempt: 3, IsFallback: true, Timestamp: now.Add(2 * time.Second)},
	}, e.payloads(m.ID))
}

// A late delivery on the first channel after the second delivered: one more
// callback, same status, duplicate set.
func testCallbackDuplicate(t *testing.T, e *cbEnv) {
	m := e.enqueue(withCallback)
	e.send(m.ID, t0, "whatsapp")
	e.send(m.ID, t0.Add(time.Minute), "sms")
	e.receipt(store.ReceiptParams{Channel: "sms", ProviderID: providerID(m.ID, "sms", 2), Status: store.AttemptDelivered, At: t0.Add(2 * time.Minute)})
	r := e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: providerID(m.ID, "whatsapp", 1), Status: store.AttemptDelivered, At: t0.Add(3 * time.Minute)})
	require.True(t, r.Duplicate)
	require.Equal(t, []store.CallbackPayload{
		{ID: m.ID, Status: store.StatusSent, Channel: "whatsapp", Attempt: 1, Timestamp: t0},
		{ID: m.ID, Status: store.StatusDelivered, Channel: "sms", Attempt: 2, IsFallback: true, Timestamp: t0.Add(2 * time.Minute)},
		{ID: m.ID, Status: store.StatusDelivered, Channel: "whatsapp", Attempt: 1, Duplicate: true, Timestamp: t0.Add(3 * time.Minute)},
	}, e.payloads(m.ID))
}

func testCallbackFailedAndExpired(t *testing.T, e *cbEnv) {
	m := e.enqueue(withCallback)
	e.send(m.ID, t0, "whatsapp")
	e.fail(m.ID, t0.Add(time.Minute), store.StatusFailed)
	require.Equal(t, []store.CallbackPayload{
		{ID: m.ID, Status: store.StatusSent, Channel: "whatsapp", Attempt: 1, Timestamp: t0},
		{ID: m.ID, Status: store.StatusFailed, Channel: "whatsapp", Attempt: 1, Timestamp: t0.Add(time.Minute)},
	}, e.payloads(m.ID))
	// A late delivery beats failed: reported too.
	e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: providerID(m.ID, "whatsapp", 1), Status: store.AttemptDelivered, At: t0.Add(2 * time.Minute)})
	require.Equal(t, []store.Status{store.StatusSent, store.StatusFailed, store.StatusDelivered}, statuses(e.payloads(m.ID)))

	// Expired before any channel took it: no attempt, no channel.
	x := e.enqueue(withCallback)
	e.claimOne("d", t0, x.ID)
	require.NoError(t, e.s.Advance(e.ctx, &store.Transition{MessageID: x.ID, Owner: "d", Status: store.StatusExpired,
		LastError: "ttl passed", Now: t0.Add(time.Hour)}))
	require.Equal(t, []store.CallbackPayload{
		{ID: x.ID, Status: store.StatusExpired, Timestamp: t0.Add(time.Hour)},
	}, e.payloads(x.ID))
}

// Claims take only a message's oldest pending callback: N+1 waits while N
// is leased or backing off, and goes once N is delivered or given up.
func testCallbackOrder(t *testing.T, e *cbEnv) {
	var ms []*store.Message
	for range 2 {
		m := e.enqueue(withCallback)
		ms = append(ms, m)
		id := m.ID
		e.send(id, t0, "whatsapp")
		pid := providerID(id, "whatsapp", 1)
		e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: pid, Status: store.AttemptDelivered, At: t0.Add(time.Second)})
		e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: pid, Status: store.AttemptRead, At: t0.Add(2 * time.Second)})
	}
	ca, cb := e.callbacks(ms[0].ID), e.callbacks(ms[1].ID)
	require.Len(t, ca, 3)
	require.Len(t, cb, 3)
	now := t0.Add(time.Minute)

	got := e.claimCBs("s", now, 10)
	require.ElementsMatch(t, []int64{ca[0].ID, cb[0].ID}, cbIDs(got), "one per message: its oldest")
	require.Empty(t, e.claimCBs("s", now, 10), "the next ones wait while the first are leased")

	e.finish(store.CallbackResult{ID: ca[0].ID, Owner: "s", Status: store.CallbackDelivered, Now: now})
	got = e.claimCBs("s", now, 10)
	require.Equal(t, []int64{ca[1].ID}, cbIDs(got))
	require.Equal(t, ca[1].Payload, got[0].Payload)

	// b's first backs off: b's second still waits, past the backoff too.
	e.finish(store.CallbackResult{ID: cb[0].ID, Owner: "s", Status: store.CallbackPending, Error: "HTTP 503", NextAt: now.Add(10 * time.Second), Now: now})
	e.finish(store.CallbackResult{ID: ca[1].ID, Owner: "s", Status: store.CallbackGaveUp, Error: "HTTP 410", Now: now})
	got = e.claimCBs("s", now.Add(5*time.Second), 10)
	require.Equal(t, []int64{ca[2].ID}, cbIDs(got), "a given-up callback no longer holds the next one back")
	got = e.claimCBs("s", now.Add(10*time.Second), 10)
	require.Equal(t, []int64{cb[0].ID}, cbIDs(got), "b's first again after its backoff, not b's second")
	require.Equal(t, 1, got[0].Attempts)
	require.Equal(t, "HTTP 503", got[0].LastError)

	// Limit, and oldest due first across messages.
	e.finish(store.CallbackResult{ID: ca[2].ID, Owner: "s", Status: store.CallbackDelivered, Now: now})
	e.finish(store.CallbackResult{ID: cb[0].ID, Owner: "s", Status: store.CallbackDelivered, Now: now})
	c := e.enqueue(withCallback)
	e.send(c.ID, t0, "whatsapp") // due at t0: before b's second (t0+1s)
	got = e.claimCBs("s", now.Add(time.Minute), 1)
	require.Len(t, got, 1)
	require.Equal(t, c.ID, got[0].MessageID, "the oldest due first")
	got = e.claimCBs("s", now.Add(time.Minute), 1)
	require.Equal(t, []int64{cb[1].ID}, cbIDs(got))
}

func testCallbackLeaseAndRetry(t *testing.T, e *cbEnv) {
	m := e.enqueue(withCallback)
	e.send(m.ID, t0, "whatsapp")
	id := e.callbacks(m.ID)[0].ID

	require.Empty(t, e.claimCBs("a", t0.Add(-time.Nanosecond), 10), "not due before it was made")
	require.Empty(t, e.claimCBs("a", t0, 0))
	got := e.claimCBs("a", t0, 10)
	require.Equal(t, []int64{id}, cbIDs(got))
	require.Empty(t, e.claimCBs("b", t0.Add(59*time.Second), 10), "leased for a minute")
	got = e.claimCBs("b", t0.Add(61*time.Second), 10)
	require.Equal(t, []int64{id}, cbIDs(got), "an expired lease is taken over")

	// The old owner's result no longer counts.
	err := e.o.FinishCallback(e.ctx, store.CallbackResult{ID: id, Owner: "a", Status: store.CallbackDelivered, Now: t0.Add(62 * time.Second)})
	require.ErrorIs(t, err, store.ErrLeaseLost)
	require.Equal(t, store.CallbackPending, e.callbacks(m.ID)[0].Status)
	require.ErrorIs(t, e.o.FinishCallback(e.ctx, store.CallbackResult{ID: id + 1000, Owner: "b", Status: store.CallbackDelivered, Now: t0}), store.ErrNotFound)
	require.Error(t, e.o.FinishCallback(e.ctx, store.CallbackResult{ID: id, Owner: "b", Status: "lost", Now: t0}))

	// Retry: pending with NextAt, the lease dropped.
	retryAt := t0.Add(90 * time.Second)
	e.finish(store.CallbackResult{ID: id, Owner: "b", Status: store.CallbackPending, Error: "dial: refused", NextAt: retryAt, Now: t0.Add(62 * time.Second)})
	cb := e.callbacks(m.ID)[0]
	require.Equal(t, store.CallbackPending, cb.Status)
	require.Equal(t, 1, cb.Attempts)
	require.Equal(t, "dial: refused", cb.LastError)
	require.Equal(t, retryAt, cb.NextAt)
	require.True(t, cb.FinishedAt.IsZero())
	require.Empty(t, e.claimCBs("b", retryAt.Add(-time.Microsecond), 10), "not before NextAt")
	got = e.claimCBs("c", retryAt, 10)
	require.Equal(t, []int64{id}, cbIDs(got), "due at NextAt, claimable by anyone: the lease was dropped")
	require.ErrorIs(t, e.o.FinishCallback(e.ctx, store.CallbackResult{ID: id, Owner: "b", Status: store.CallbackDelivered, Now: retryAt}), store.ErrLeaseLost)

	// Delivered: final, the last error kept for support, never claimed again.
	done := retryAt.Add(time.Second)
	e.finish(store.CallbackResult{ID: id, Owner: "c", Status: store.CallbackDelivered, Now: done})
	cb = e.callbacks(m.ID)[0]
	require.Equal(t, store.CallbackDelivered, cb.Status)
	require.Equal(t, 2, cb.Attempts)
	require.Equal(t, "dial: refused", cb.LastError)
	require.Equal(t, done, cb.FinishedAt)
	require.True(t, cb.NextAt.IsZero())
	require.Empty(t, e.claimCBs("c", done.Add(time.Hour), 10))
	require.ErrorIs(t, e.o.FinishCallback(e.ctx, store.CallbackResult{ID: id, Owner: "c", Status: store.CallbackDelivered, Now: done}), store.ErrLeaseLost,
		"a finished callback takes no more results")

	// Gave up.
	e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: providerID(m.ID, "whatsapp", 1), Status: store.AttemptDelivered, At: done})
	got = e.claimCBs("c", done, 10)
	require.Len(t, got, 1)
	e.finish(store.CallbackResult{ID: got[0].ID, Owner: "c", Status: store.CallbackGaveUp, Error: "callback endpoint answered 410 Gone", Now: done})
	cb = e.callbacks(m.ID)[1]
	require.Equal(t, store.CallbackGaveUp, cb.Status)
	require.Equal(t, 1, cb.Attempts)
	require.Equal(t, done, cb.FinishedAt)
	require.Empty(t, e.claimCBs("c", done.Add(time.Hour), 10))
}

// DeferCallbacks hands claimed callbacks back untried: due again at the time
// given, claimable by anyone then, attempts and last error as they were,
// the message's later callbacks still waiting behind. Only the lease
// holder's pending callbacks move.
func testCallbackDefer(t *testing.T, e *cbEnv) {
	m := e.enqueue(withCallback)
	e.send(m.ID, t0, "whatsapp")
	e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: providerID(m.ID, "whatsapp", 1), Status: store.AttemptDelivered, At: t0.Add(time.Second)})
	m2 := e.enqueue(withCallback)
	e.send(m2.ID, t0, "whatsapp")
	first, second, other := e.callbacks(m.ID)[0].ID, e.callbacks(m.ID)[1].ID, e.callbacks(m2.ID)[0].ID

	// One failed try, so there is an attempt and an error to keep.
	got := e.claimCBs("a", t0, 10)
	require.ElementsMatch(t, []int64{first, other}, cbIDs(got))
	e.finish(store.CallbackResult{ID: first, Owner: "a", Status: store.CallbackPending, Error: "HTTP 503", NextAt: t0.Add(time.Second), Now: t0})
	got = e.claimCBs("a", t0.Add(time.Second), 10)
	require.Equal(t, []int64{first}, cbIDs(got))

	later := t0.Add(30 * time.Second)
	require.ErrorContains(t, e.o.DeferCallbacks(e.ctx, "", []int64{first}, later), "owner")
	require.NoError(t, e.o.DeferCallbacks(e.ctx, "a", nil, later))
	require.NoError(t, e.o.DeferCallbacks(e.ctx, "b", []int64{first, other}, later), "another owner's leases: nothing to hand back")
	require.Empty(t, e.claimCBs("b", t0.Add(2*time.Second), 10), "both still leased by a")

	require.NoError(t, e.o.DeferCallbacks(e.ctx, "a", []int64{first, other, first + 10_000}, later))
	for _, id := range []string{m.ID, m2.ID} {
		cb := e.callbacks(id)[0]
		require.Equal(t, store.CallbackPending, cb.Status)
		require.Equal(t, later, cb.NextAt)
		require.True(t, cb.FinishedAt.IsZero())
	}
	cb := e.callbacks(m.ID)[0]
	require.Equal(t, 1, cb.Attempts, "a deferral is not a try")
	require.Equal(t, "HTTP 503", cb.LastError)
	require.Zero(t, e.callbacks(m2.ID)[0].Attempts)

	require.Empty(t, e.claimCBs("b", later.Add(-time.Microsecond), 10), "not before the time given; the message's next callback waits too")
	got = e.claimCBs("b", later, 10)
	require.ElementsMatch(t, []int64{first, other}, cbIDs(got), "the leases were dropped: anyone claims them when due")
	require.ErrorIs(t, e.o.FinishCallback(e.ctx, store.CallbackResult{ID: first, Owner: "a", Status: store.CallbackDelivered, Now: later}), store.ErrLeaseLost)

	// Finished callbacks do not move.
	e.finish(store.CallbackResult{ID: first, Owner: "b", Status: store.CallbackDelivered, Now: later})
	require.NoError(t, e.o.DeferCallbacks(e.ctx, "b", []int64{first}, later.Add(time.Hour)))
	cb = e.callbacks(m.ID)[0]
	require.Equal(t, store.CallbackDelivered, cb.Status)
	require.True(t, cb.NextAt.IsZero())
	got = e.claimCBs("b", later, 10)
	require.Equal(t, []int64{second}, cbIDs(got))
}
