package postgres

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// RenewLeaseIDs renews what RenewLeases does and names the ids: the
// caller's own leases, not one another owner took, nor an unknown id.
func TestRenewLeaseIDs(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	enqueue := func(owner string) string {
		m, _, err := s.Enqueue(ctx, msg(func(m *store.Message) {
			m.CreatedAt, m.NextAt = now, now
			if owner != "" {
				m.LeaseOwner, m.LeaseUntil = owner, now.Add(10*time.Second)
			}
		}))
		require.NoError(t, err)
		return m.ID
	}
	mine1, mine2, theirs, free := enqueue("a"), enqueue("a"), enqueue("b"), enqueue("")
	until := now.Add(time.Minute)
	got, err := s.RenewLeaseIDs(ctx, "a", []string{mine1, theirs, mine2, free, "0190a0a0-0000-7000-8000-000000000000"}, until)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{mine1, mine2}, got)
	for id, want := range map[string]time.Time{mine1: until, mine2: until, theirs: now.Add(10 * time.Second)} {
		m, err := s.Get(ctx, id)
		require.NoError(t, err)
		require.True(t, want.Equal(m.LeaseUntil), "%s: lease until %s, want %s", id, m.LeaseUntil, want)
	}
	got, err = s.RenewLeaseIDs(ctx, "a", nil, until)
	require.NoError(t, err)
	require.Empty(t, got)
}

// An instance that lost its lease mid-send records its attempt after the
// instance that took the message over recorded its own, under the same
// seq: the takeover's ambiguous flag stays, so the possible double send is
// never silent.
func TestStaleAttemptKeepsTakeoverAmbiguous(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	m, _, err := s.Enqueue(ctx, msg(func(m *store.Message) {
		m.CreatedAt, m.NextAt = now, now
		m.LeaseOwner, m.LeaseUntil = "a", now.Add(10*time.Second)
	}))
	require.NoError(t, err)
	// a's lease ran out mid-send; b claims the message and sends it again.
	later := now.Add(11 * time.Second)
	claimed, err := s.Claim(ctx, store.ClaimParams{Owner: "b", Lease: 10 * time.Second, Limit: 10, Now: later})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.True(t, claimed[0].Reclaimed)
	attempt := func(ambiguous bool, provider string) store.Attempt {
		return store.Attempt{MessageID: m.ID, Seq: 1, Channel: "whatsapp", Status: store.AttemptSent,
			ProviderID: provider, Ambiguous: ambiguous, StartedAt: later}
	}
	require.NoError(t, s.Advance(ctx, &store.Transition{MessageID: m.ID, Owner: "b", Now: later,
		Status: store.StatusSent, Channel: "whatsapp", NextAt: later.Add(time.Minute),
		Attempts: []store.Attempt{attempt(true, "p-b")}}))
	err = s.Advance(ctx, &store.Transition{MessageID: m.ID, Owner: "a", Now: later,
		Status: store.StatusSent, Channel: "whatsapp", NextAt: later.Add(time.Minute),
		Attempts: []store.Attempt{attempt(false, "p-a")}})
	require.ErrorIs(t, err, store.ErrLeaseLost)
	got, err := s.Get(ctx, m.ID)
	require.NoError(t, err)
	require.Len(t, got.History, 1)
	require.True(t, got.History[0].Ambiguous, "the takeover's flag survives the stale owner's record")
}
