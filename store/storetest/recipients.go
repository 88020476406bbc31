package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// testRecipientLimit: Enqueue with a Limit counts per (policy, recipient
// key) in the window, refuses at the limit with a RecipientLimitError
// without storing anything, lets replays through, and is exact under
// concurrent sends; CountRecipient agrees.
func testRecipientLimit(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	rc := e.s
	const phone = "+15551230001"
	window := time.Hour
	now := t0
	lim := func(max int) func(*store.Message) {
		return func(m *store.Message) { m.Limit = &store.RecipientLimit{Max: max, Since: now.Add(-window)} }
	}
	at := func(d time.Duration) func(*store.Message) {
		return func(m *store.Message) { m.ID = IDAt(now.Add(d)) }
	}
	to := func(r store.Recipient) func(*store.Message) { return func(m *store.Message) { m.To = r } }
	count := func(policy, key string) int {
		t.Helper()
		n, err := rc.CountRecipient(e.ctx, policy, key, now.Add(-window))
		require.NoError(t, err)
		return n
	}
	refused := func(mods ...func(*store.Message)) *store.RecipientLimitError {
		t.Helper()
		m, _, err := e.s.Enqueue(e.ctx, newMessage(mods...))
		require.ErrorIs(t, err, store.ErrRecipientLimited)
		require.Nil(t, m)
		var le *store.RecipientLimitError
		require.True(t, errors.As(err, &le))
		return le
	}

	// Outside the window: recorded, not counted.
	e.enqueue(at(-window-time.Minute), to(store.Recipient{Phone: phone}), lim(3))
	// Phone and whatsapp forms of one number are one recipient.
	first := e.enqueue(at(-50*time.Minute), to(store.Recipient{Phone: phone}), lim(3))
	e.enqueue(at(-40*time.Minute), to(store.Recipient{WhatsApp: phone}), lim(3))
	e.enqueue(at(-30*time.Minute), to(store.Recipient{Phone: phone, WhatsApp: phone}), lim(3))
	require.Equal(t, 3, count("otp", "tel:"+phone))

	le := refused(at(0), to(store.Recipient{WhatsApp: phone}), lim(3))
	require.Equal(t, "tel:"+phone, le.Key)
	require.Equal(t, 3, le.Count)
	// The oldest message in the window frees the slot when it leaves it.
	require.Equal(t, store.IDTime(first.ID), le.Oldest)
	require.Equal(t, now.Add(-50*time.Minute).Truncate(time.Millisecond), le.Oldest)
	require.Equal(t, 3, count("otp", "tel:"+phone), "a refused message is not counted")

	// A message with another address that is at its limit is refused too.
	le = refused(at(0), to(store.Recipient{Email: "fresh@example.com", Phone: phone}), lim(3))
	require.Equal(t, "tel:"+phone, le.Key)
	require.Zero(t, count("otp", "email:fresh@example.com"), "nothing of a refused message is stored")

	// Another recipient, another policy, and a higher limit are not affected.
	e.enqueue(at(0), to(store.Recipient{Phone: "+15551230002"}), lim(3))
	e.enqueue(at(0), to(store.Recipient{Phone: phone}), lim(3), func(m *store.Message) { m.Policy = "marketing" })
	e.enqueue(at(0), to(store.Recipient{Phone: phone}), lim(4))
	require.Equal(t, 1, count("marketing", "tel:"+phone))
	require.Equal(t, 4, count("otp", "tel:"+phone))

	// Without a Limit nothing is counted.
	e.enqueue(at(0), to(store.Recipient{Phone: "+15551230003"}))
	require.Zero(t, count("otp", "tel:+15551230003"))

	// Emails count case-insensitively.
	e.enqueue(at(0), to(store.Recipient{Email: "Ana@Example.com"}), lim(1))
	refused(at(0), to(store.Recipient{Email: "ana@example.com"}), lim(1))

	// A replay of a stored idempotency key is answered as a replay even at
	// the limit.
	idem := func(m *store.Message) { m.IdempotencyScope, m.IdempotencyKey = "shop", "once" }
	stored := e.enqueue(at(0), to(store.Recipient{Phone: "+15551230004"}), lim(1), idem)
	again, replayed, err := e.s.Enqueue(e.ctx, newMessage(at(0), to(store.Recipient{Phone: "+15551230004"}), lim(1), idem))
	require.NoError(t, err)
	require.True(t, replayed)
	require.Equal(t, stored.ID, again.ID)

	// Concurrent sends to one recipient take exactly the slots there are.
	const n, max = 24, 5
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, _, errs[i] = e.s.Enqueue(e.ctx, newMessage(at(0), to(store.Recipient{Phone: "+15551230005"}), lim(max),
				func(m *store.Message) { m.Body = fmt.Sprint(i) }))
		})
	}
	wg.Wait()
	var accepted int
	for _, err := range errs {
		if err == nil {
			accepted++
			continue
		}
		require.ErrorIs(t, err, store.ErrRecipientLimited)
	}
	require.Equal(t, max, accepted)
	require.Equal(t, max, count("otp", "tel:+15551230005"))
}
