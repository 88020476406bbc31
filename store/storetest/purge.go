package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// testPurge: retention deletes old messages that are done, with everything
// hanging off them, and nothing else.
func testPurge(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	p := e.s
	cb := &cbEnv{env: e, o: e.s}
	cutoff := t0.Add(-30 * 24 * time.Hour)
	old := func(d time.Duration) func(*store.Message) {
		return func(m *store.Message) { m.ID = IDAt(cutoff.Add(-d)) }
	}
	deliver := func(id string) {
		seq := e.send(id, t0, "whatsapp")
		e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: providerID(id, "whatsapp", seq),
			Status: store.AttemptDelivered, At: t0.Add(time.Second)})
	}

	// Old and delivered, with tags and an idempotency key: purged.
	delivered := e.enqueue(old(10*time.Hour), func(m *store.Message) {
		m.Tags, m.IdempotencyScope, m.IdempotencyKey = []string{"otp", "login"}, "shop", "order-1"
		m.Limit = &store.RecipientLimit{Max: 5, Since: cutoff.Add(-24 * time.Hour)}
	})
	deliver(delivered.ID)
	// Old, sent and no longer waiting for a receipt (its ttl passed on a
	// channel without receipts): purged.
	sentDone := e.enqueue(old(9 * time.Hour))
	e.claimOne("dispatcher", t0, sentDone.ID)
	require.NoError(t, e.s.Advance(e.ctx, &store.Transition{MessageID: sentDone.ID, Owner: "dispatcher",
		Attempts: []store.Attempt{{Seq: 1, Channel: "email", Status: store.AttemptSent, ProviderID: "mail-1", StartedAt: t0, EndedAt: t0}},
		Status:   store.StatusSent, Channel: "email", Tries: 1, Now: t0}))
	// Old and failed, but its failed callback is still to be delivered: kept
	// until the callback is done.
	failed := e.enqueue(old(8*time.Hour), withCallback)
	e.send(failed.ID, t0, "whatsapp")
	e.fail(failed.ID, t0.Add(31*time.Second), store.StatusFailed)
	// Recent and delivered: kept.
	recent := e.enqueue(func(m *store.Message) { m.ID = IDAt(cutoff.Add(time.Hour)) })
	deliver(recent.ID)
	// Old but still due: kept, whatever its age.
	due := e.enqueue(old(7 * time.Hour))

	n, err := p.Purge(e.ctx, cutoff, 1)
	require.NoError(t, err)
	require.Equal(t, 1, n, "a full batch: call again")
	n, err = p.Purge(e.ctx, cutoff, 100)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the rest of what is done")
	n, err = p.Purge(e.ctx, cutoff, 100)
	require.NoError(t, err)
	require.Zero(t, n)

	for _, id := range []string{delivered.ID, sentDone.ID} {
		_, err := e.s.Get(e.ctx, id)
		require.ErrorIs(t, err, store.ErrNotFound, "purged")
	}
	for _, id := range []string{failed.ID, recent.ID, due.ID} {
		require.Equal(t, id, e.get(id).ID, "kept")
	}
	byTag := mustList(t, e, store.ListParams{Tag: "otp"})
	require.Empty(t, byTag.Messages, "its tags went with it")
	n, err = e.s.CountRecipient(e.ctx, "otp", "tel:+15551234567", cutoff.Add(-24*time.Hour))
	require.NoError(t, err)
	require.Zero(t, n, "its per-recipient rows went with it")
	byTo := mustList(t, e, store.ListParams{To: "+15551234567"})
	require.ElementsMatch(t, []string{failed.ID, recent.ID, due.ID}, ids(byTo.Messages))
	_, err = e.s.RecordReceipt(e.ctx, store.ReceiptParams{Channel: "whatsapp",
		ProviderID: providerID(delivered.ID, "whatsapp", 1), Status: store.AttemptRead, At: t0})
	require.ErrorIs(t, err, store.ErrNotFound, "its attempts went with it")
	again, replayed, err := e.s.Enqueue(e.ctx, newMessage(func(m *store.Message) { m.IdempotencyScope, m.IdempotencyKey = "shop", "order-1" }))
	require.NoError(t, err)
	require.False(t, replayed, "a purged message's idempotency key is free again")
	require.NotEqual(t, delivered.ID, again.ID)

	// Once the failed message's callbacks are delivered (one at a time:
	// a message's callbacks go out in order) it goes too.
	for delivered := 0; ; {
		cbs := cb.claimCBs("sender", t0.Add(time.Minute), 10)
		if len(cbs) == 0 {
			require.Equal(t, 2, delivered, "sent and failed")
			break
		}
		for _, c := range cbs {
			delivered++
			cb.finish(store.CallbackResult{ID: c.ID, Owner: "sender", Status: store.CallbackDelivered, Now: t0.Add(time.Minute)})
		}
	}
	n, err = p.Purge(e.ctx, cutoff, 100)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = e.s.Get(e.ctx, failed.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Empty(t, cb.callbacks(failed.ID), "its callbacks went with it")
}
