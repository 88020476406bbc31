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
