package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// readTimeouts is what routing passes with a receipt on a whatsapp
// channel: the "marketing" policy waits 10 minutes for a read.
var readTimeouts = map[string]time.Duration{"marketing": 10 * time.Minute}

func marketing(m *store.Message) { m.Policy = "marketing" }

func sameTime(t *testing.T, want, got time.Time, what string) {
	t.Helper()
	require.True(t, want.Equal(got), "%s: want %s, got %s", what, want, got)
}

// testReadWait: read-based failover as a store sees it. A delivered
// receipt under a read timeout leaves the message delivered and due at the
// read deadline; Claim takes it then; an Advance ReadWait moves the
// route on (the status drops to the next channel's); a late read marks the
// first attempt read (read_at) and the message a duplicate. A read in time
// ends it read and no longer due.
func testReadWait(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("no read: moves on, late read is a duplicate", func(t *testing.T) {
		e := setup(t, open)
		m := e.enqueue(marketing)
		e.send(m.ID, t0, "whatsapp")
		deliveredAt := t0.Add(time.Second)
		res := e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: providerID(m.ID, "whatsapp", 1),
			Status: store.AttemptDelivered, At: deliveredAt, ReadTimeouts: readTimeouts})
		require.Equal(t, store.StatusDelivered, res.Status)

		got := e.get(m.ID)
		require.Equal(t, store.StatusDelivered, got.Status)
		sameTime(t, deliveredAt.Add(10*time.Minute), got.NextAt, "next_at is the read deadline")
		require.True(t, got.History[0].ReadAt.IsZero())

		require.Empty(t, e.claim("dispatcher", t0.Add(5*time.Minute), 10), "not due before the read deadline")
		c := e.claimOne("dispatcher", t0.Add(11*time.Minute), m.ID)
		require.Equal(t, store.StatusDelivered, c.Status)
		require.NotNil(t, c.Current)
		require.Equal(t, store.AttemptDelivered, c.Current.Status)

		now := t0.Add(11 * time.Minute)
		first := *c.Current
		first.Reason, first.EndedAt = reason.NoRead, now
		require.NoError(t, e.s.Advance(e.ctx, &store.Transition{
			MessageID: m.ID, Owner: "dispatcher", ReadWait: true, Now: now,
			Attempts: []store.Attempt{first, {Seq: 2, Step: 1, Channel: "sms", Status: store.AttemptSent,
				ProviderID: providerID(m.ID, "sms", 2), StartedAt: now}},
			Status: store.StatusSent, Channel: "sms", Step: 1, NextAt: now.Add(30 * time.Second),
		}))
		got = e.get(m.ID)
		require.Equal(t, store.StatusSent, got.Status, "the status is the next channel's")
		require.Equal(t, "sms", got.Channel)
		require.Equal(t, store.AttemptDelivered, got.History[0].Status)
		require.Equal(t, reason.NoRead, got.History[0].Reason)

		res = e.receipt(store.ReceiptParams{Channel: "sms", ProviderID: providerID(m.ID, "sms", 2),
			Status: store.AttemptDelivered, At: now.Add(time.Second)})
		require.Equal(t, store.StatusDelivered, res.Status)
		require.False(t, res.Duplicate)

		readAt := t0.Add(20 * time.Minute)
		res = e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: providerID(m.ID, "whatsapp", 1),
			Status: store.AttemptRead, At: readAt, ReadTimeouts: readTimeouts})
		require.True(t, res.Late)
		require.True(t, res.Duplicate, "read on the first channel after the route moved on")
		got = e.get(m.ID)
		require.True(t, got.Duplicate)
		require.Equal(t, store.AttemptRead, got.History[0].Status)
		sameTime(t, readAt, got.History[0].ReadAt, "read_at")
		sameTime(t, deliveredAt, got.History[0].DeliveredAt, "delivered_at is kept")
		require.True(t, got.History[1].ReadAt.IsZero())
		require.Empty(t, e.claim("dispatcher", t0.Add(time.Hour), 10))
	})

	t.Run("read in time: read, not due", func(t *testing.T) {
		e := setup(t, open)
		m := e.enqueue(marketing)
		e.send(m.ID, t0, "whatsapp")
		pid := providerID(m.ID, "whatsapp", 1)
		e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: pid, Status: store.AttemptDelivered,
			At: t0.Add(time.Second), ReadTimeouts: readTimeouts})
		readAt := t0.Add(2 * time.Minute)
		res := e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: pid, Status: store.AttemptRead,
			At: readAt, ReadTimeouts: readTimeouts})
		require.Equal(t, store.StatusRead, res.Status)
		require.False(t, res.Late)
		got := e.get(m.ID)
		require.Equal(t, store.StatusRead, got.Status)
		require.True(t, got.NextAt.IsZero())
		sameTime(t, readAt, got.History[0].ReadAt, "read_at")
		require.Empty(t, e.claim("dispatcher", t0.Add(time.Hour), 10))
	})

	t.Run("a read while claimed wins over the move", func(t *testing.T) {
		e := setup(t, open)
		m := e.enqueue(marketing)
		e.send(m.ID, t0, "whatsapp")
		pid := providerID(m.ID, "whatsapp", 1)
		e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: pid, Status: store.AttemptDelivered,
			At: t0, ReadTimeouts: readTimeouts})
		now := t0.Add(11 * time.Minute)
		c := e.claimOne("dispatcher", now, m.ID)
		e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: pid, Status: store.AttemptRead, At: now})
		first := *c.Current
		first.Reason, first.EndedAt = reason.NoRead, now
		require.NoError(t, e.s.Advance(e.ctx, &store.Transition{
			MessageID: m.ID, Owner: "dispatcher", ReadWait: true, Now: now,
			Attempts: []store.Attempt{first}, Status: store.StatusSending, Channel: "whatsapp", Step: 1, NextAt: now,
		}))
		got := e.get(m.ID)
		require.Equal(t, store.StatusRead, got.Status)
		require.Empty(t, e.claim("dispatcher", t0.Add(time.Hour), 10))
	})

	t.Run("delivered without a read timeout is final", func(t *testing.T) {
		e := setup(t, open)
		m := e.enqueue() // policy otp: no read timeout
		e.send(m.ID, t0, "whatsapp")
		e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: providerID(m.ID, "whatsapp", 1),
			Status: store.AttemptDelivered, At: t0, ReadTimeouts: readTimeouts})
		require.True(t, e.get(m.ID).NextAt.IsZero())
		require.Empty(t, e.claim("dispatcher", t0.Add(time.Hour), 10))
	})
}
