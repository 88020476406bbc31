package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// testRenewLeases: RenewLeases extends the owner's leases only, including a
// lease that expired while nobody claimed the message, and skips a lease
// the owner lost.
func testRenewLeases(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	own1, own2 := e.enqueue(), e.enqueue()
	others := e.enqueue(func(m *store.Message) { m.NextAt = t0.Add(time.Second) })
	require.Len(t, e.claim("a", t0, 10), 2) // own1, own2 until t0+1m
	require.Len(t, e.claim("b", t0.Add(time.Second), 10), 1)

	t.Run("renews own, leaves others'", func(t *testing.T) {
		until := t0.Add(90 * time.Second)
		n, err := e.s.RenewLeases(e.ctx, "a", []string{own1.ID, own2.ID, others.ID, newID()}, until)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		for _, id := range []string{own1.ID, own2.ID} {
			m := e.get(id)
			require.Equal(t, "a", m.LeaseOwner)
			require.Equal(t, until, m.LeaseUntil)
			require.Equal(t, t0, m.NextAt, "nothing but the lease changes")
			require.Equal(t, store.StatusQueued, m.Status)
		}
		m := e.get(others.ID)
		require.Equal(t, "b", m.LeaseOwner)
		require.Equal(t, t0.Add(time.Second+time.Minute), m.LeaseUntil, "another owner's lease is untouched")

		// Past a's first lease end, within b's.
		require.Empty(t, e.claim("c", t0.Add(60*time.Second+time.Millisecond), 10), "the renewed leases hold past the first lease's end")
	})

	t.Run("expired but still owned is renewed", func(t *testing.T) {
		// b's lease ended at t0+61s and nobody claimed the message since.
		until := t0.Add(5 * time.Minute)
		n, err := e.s.RenewLeases(e.ctx, "b", []string{others.ID}, until)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, until, e.get(others.ID).LeaseUntil)
		require.Empty(t, e.claim("c", t0.Add(85*time.Second), 10), "past the first lease end, within a's renewal")
	})

	t.Run("lost is not renewed", func(t *testing.T) {
		// a's renewed leases end at t0+90s; c claims both messages after.
		at := t0.Add(91 * time.Second)
		require.ElementsMatch(t, []string{own1.ID, own2.ID}, ids(e.claim("c", at, 10)))
		n, err := e.s.RenewLeases(e.ctx, "a", []string{own1.ID, own2.ID}, at.Add(time.Hour))
		require.NoError(t, err)
		require.Zero(t, n)
		for _, id := range []string{own1.ID, own2.ID} {
			m := e.get(id)
			require.Equal(t, "c", m.LeaseOwner)
			require.Equal(t, at.Add(time.Minute), m.LeaseUntil)
		}
	})

	t.Run("advanced or released is not renewed", func(t *testing.T) {
		at := t0.Add(92 * time.Second)
		require.NoError(t, e.s.Advance(e.ctx, &store.Transition{MessageID: own1.ID, Owner: "c",
			Status: store.StatusSending, NextAt: at.Add(time.Minute), Now: at}))
		require.NoError(t, e.s.Release(e.ctx, "b"))
		for _, tc := range []struct{ owner, id string }{{"c", own1.ID}, {"b", others.ID}} {
			n, err := e.s.RenewLeases(e.ctx, tc.owner, []string{tc.id}, at.Add(time.Hour))
			require.NoError(t, err)
			require.Zero(t, n)
			m := e.get(tc.id)
			require.Empty(t, m.LeaseOwner)
			require.True(t, m.LeaseUntil.IsZero())
		}
		n, err := e.s.RenewLeases(e.ctx, "c", nil, at.Add(time.Hour))
		require.NoError(t, err)
		require.Zero(t, n, "no ids")
		n, err = e.s.RenewLeases(e.ctx, "", []string{own1.ID, others.ID}, at.Add(time.Hour))
		require.NoError(t, err)
		require.Zero(t, n, "the empty owner holds nothing")
	})
}
