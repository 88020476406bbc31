//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

func TestSecondOpenRefusedWhileFirstHoldsTheLock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sb.db")
	s, err := Open(t.Context(), path)
	require.NoError(t, err)

	// flock locks belong to the open file, so a second Open in the same
	// process is refused exactly as another process's would be.
	_, err = Open(t.Context(), path)
	require.ErrorIs(t, err, ErrLocked)
	var le *LockedError
	require.True(t, errors.As(err, &le))
	require.Equal(t, os.Getpid(), le.PID)
	require.Equal(t, path, le.Path)
	require.Contains(t, err.Error(), path)
	require.Contains(t, err.Error(), "pid "+strconv.Itoa(os.Getpid()))

	// Still usable after a refused Open, and free for the next one after Close.
	_, _, err = s.Enqueue(t.Context(), newMsg())
	require.NoError(t, err)
	require.NoError(t, s.Close())
	s, err = Open(t.Context(), path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func TestOpenReleasesLeasesLeftByAPreviousProcess(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sb.db")
	s, err := Open(ctx, path)
	require.NoError(t, err)
	now := time.Now().UTC()

	// Handed over by the API (pre-claimed) and claimed by the dispatcher:
	// what a killed process leaves.
	pre := newMsg()
	pre.LeaseOwner, pre.LeaseUntil = "dead/1", now.Add(2*time.Minute)
	handed, _, err := s.Enqueue(ctx, pre)
	require.NoError(t, err)
	claimedMsg, _, err := s.Enqueue(ctx, newMsg())
	require.NoError(t, err)
	got, err := s.Claim(ctx, store.ClaimParams{Owner: "dead/1", Lease: 2 * time.Minute, Limit: 1, Now: now.Add(time.Second)})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, claimedMsg.ID, got[0].ID)
	require.Empty(t, mustClaim(t, s, "other", now.Add(2*time.Second)), "both leases hold while their owner lives")
	require.NoError(t, s.Close())

	s, err = Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.Equal(t, int64(2), s.Released().Messages)
	free, _, err := s.Enqueue(ctx, newMsg())
	require.NoError(t, err)

	// Long before the two minutes ran out, all three are claimable; the two
	// that were leased come back Reclaimed, so the dispatcher flags their
	// next attempt ambiguous (the dead process may have been mid-send).
	byID := map[string]*store.Message{}
	for _, m := range mustClaim(t, s, "new/2", now.Add(2*time.Second)) {
		byID[m.ID] = m
	}
	require.Len(t, byID, 3)
	require.True(t, byID[handed.ID].Reclaimed)
	require.True(t, byID[claimedMsg.ID].Reclaimed)
	require.False(t, byID[free.ID].Reclaimed)
}

func mustClaim(t *testing.T, s *Store, owner string, now time.Time) []*store.Message {
	t.Helper()
	ms, err := s.Claim(t.Context(), store.ClaimParams{Owner: owner, Lease: time.Minute, Limit: 10, Now: now})
	require.NoError(t, err)
	return ms
}

func TestOpenReleasesCallbackLeasesLeftByAPreviousProcess(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sb.db")
	s, err := Open(ctx, path)
	require.NoError(t, err)
	m := newMsg()
	m.CallbackURL = "https://app.example.com/hook"
	m.IdempotencyScope = "shop"
	_, _, err = s.Enqueue(ctx, m)
	require.NoError(t, err)
	now := time.Now().UTC()
	_, err = s.Claim(ctx, store.ClaimParams{Owner: "dead/1", Lease: time.Minute, Limit: 1, Now: now})
	require.NoError(t, err)
	require.NoError(t, s.Advance(ctx, &store.Transition{MessageID: m.ID, Owner: "dead/1",
		Attempts: []store.Attempt{{Seq: 1, Channel: "whatsapp", Status: store.AttemptSent, ProviderID: "wa1", StartedAt: now}},
		Status:   store.StatusSent, Channel: "whatsapp", NextAt: now.Add(time.Hour), Now: now}))
	cbs, err := s.ClaimCallbacks(ctx, "dead/1", time.Hour, 10, now.Add(time.Second))
	require.NoError(t, err)
	require.Len(t, cbs, 1)
	require.NoError(t, s.Close())

	s, err = Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.Equal(t, int64(1), s.Released().Callbacks)
	cbs, err = s.ClaimCallbacks(ctx, "new/2", time.Minute, 10, now.Add(2*time.Second))
	require.NoError(t, err)
	require.Len(t, cbs, 1, "the dead process's callback is due at once, not in an hour")
}
