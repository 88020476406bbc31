package retention_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/retention"
	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/sqlite"
	"github.com/switchboard-gw/switchboard/store/storetest"
)

type counter struct{ batches, total int }

func (c *counter) Purged(n int)           { c.batches++; c.total += n }
func (c *counter) Round(time.Time, error) {}

// enqueueDone stores a message accepted at at and finishes it (failed).
func enqueueDone(t *testing.T, s store.Store, at time.Time) string {
	t.Helper()
	ctx := t.Context()
	m, _, err := s.Enqueue(ctx, &store.Message{ID: storetest.IDAt(at), Policy: "otp", Route: []string{"sms"},
		To: store.Recipient{Phone: "+15551234567"}, Body: "hi", CreatedAt: at,
		LeaseOwner: "d", LeaseUntil: at.Add(time.Minute)})
	require.NoError(t, err)
	require.NoError(t, s.Advance(ctx, &store.Transition{MessageID: m.ID, Owner: "d",
		Status: store.StatusFailed, LastError: "route exhausted", Now: at}))
	return m.ID
}

func TestPurgeOnceDeletesOnlyOldDoneMessagesInBatches(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "sb.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	now := time.Now()
	var old, kept []string
	for i := range 5 {
		old = append(old, enqueueDone(t, s, now.Add(-31*24*time.Hour-time.Duration(i)*time.Minute)))
	}
	kept = append(kept, enqueueDone(t, s, now.Add(-29*24*time.Hour)))
	// Old but not done: still due.
	due, _, err := s.Enqueue(t.Context(), &store.Message{ID: storetest.IDAt(now.Add(-40 * 24 * time.Hour)), Policy: "otp",
		Route: []string{"sms"}, To: store.Recipient{Phone: "+15551234567"}, Body: "hi"})
	require.NoError(t, err)
	kept = append(kept, due.ID)

	var c counter
	r := &retention.Runner{Store: s, Batch: 2, Pause: time.Microsecond,
		Obs: &c, Now: func() time.Time { return now }}
	n, err := r.PurgeOnce(t.Context())
	require.NoError(t, err)
	require.Zero(t, n, "no keep period: everything is kept")
	r.SetKeep(30 * 24 * time.Hour)
	n, err = r.PurgeOnce(t.Context())
	require.NoError(t, err)
	require.Equal(t, 5, n)
	require.Equal(t, counter{batches: 3, total: 5}, c, "batches of 2, 2 and 1")
	for _, id := range old {
		_, err := s.Get(t.Context(), id)
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	for _, id := range kept {
		_, err := s.Get(t.Context(), id)
		require.NoError(t, err)
	}
	n, err = r.PurgeOnce(t.Context())
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to purge")
}

type failing struct{ calls atomic.Int32 }

func (f *failing) Purge(context.Context, time.Time, int) (int, error) {
	f.calls.Add(1)
	return 0, errors.New("disk on fire")
}

func (f *failing) PurgeInbound(context.Context, time.Time, int) (int, error) {
	return 0, errors.New("disk on fire")
}

// rounds counts how Run's rounds ended.
type rounds struct{ ok, failed atomic.Int32 }

func (r *rounds) Purged(int) {}
func (r *rounds) Round(_ time.Time, err error) {
	if err != nil {
		r.failed.Add(1)
	} else {
		r.ok.Add(1)
	}
}

func TestRunKeepsGoingAfterAFailedRound(t *testing.T) {
	t.Parallel()
	f := &failing{}
	obs := &rounds{}
	ctx, cancel := context.WithCancel(t.Context())
	r := &retention.Runner{Store: f, Every: time.Millisecond, Obs: obs}
	r.SetKeep(time.Hour)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	require.Eventually(t, func() bool { return f.calls.Load() >= 3 && obs.failed.Load() >= 3 }, 10*time.Second, time.Millisecond,
		"each failed round is reported and followed by the next")
	cancel()
	require.NoError(t, <-done, "a cancelled Run is a clean stop")
	require.Zero(t, obs.ok.Load(), "no round succeeded")
}

func TestRunReportsSuccessfulRounds(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "sb.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	obs := &rounds{}
	ctx, cancel := context.WithCancel(t.Context())
	r := &retention.Runner{Store: s, Every: time.Millisecond, Obs: obs}
	r.SetKeep(time.Hour)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	require.Eventually(t, func() bool { return obs.ok.Load() >= 2 }, 10*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Zero(t, obs.failed.Load())
}
