package postgres

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// A receipt that arrives while the Advance recording its attempt is still
// on its way waits for that Advance and applies, instead of answering
// ErrNotFound (which routing.Receipts would retry 20 ms later).
func TestReceiptWaitsForItsAdvance(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	m, _, err := s.Enqueue(ctx, msg(func(m *store.Message) {
		m.LeaseOwner, m.LeaseUntil = "d", now.Add(time.Minute)
	}))
	require.NoError(t, err)
	tr := &store.Transition{
		MessageID: m.ID, Owner: "d", Status: store.StatusSent, Channel: "sms", Step: 0, Tries: 1,
		Attempts: []store.Attempt{{Seq: 1, Channel: "sms", Status: store.AttemptSent, ProviderID: "p-1", StartedAt: now}},
		NextAt:   now.Add(time.Minute), Now: now,
	}
	// The dispatcher's Advance has begun (registered) but not committed.
	release := s.inflight.add(tr)
	type out struct {
		res store.ReceiptResult
		err error
	}
	got := make(chan out, 1)
	go func() {
		r, err := s.RecordReceipt(ctx, store.ReceiptParams{Channel: "sms", ProviderID: "p-1",
			Status: store.AttemptDelivered, At: now.Add(time.Second)})
		got <- out{r, err}
	}()
	require.Eventually(t, func() bool { return s.inflight.waiting.Load() == 1 }, 10*time.Second, time.Millisecond,
		"the receipt waits for the Advance")
	require.NoError(t, s.Advance(ctx, tr))
	release()
	r := <-got
	require.NoError(t, r.err)
	require.True(t, r.res.Changed)
	require.Equal(t, store.StatusDelivered, r.res.Status)

	// Nothing in flight: an unknown provider id is not found at once.
	_, err = s.RecordReceipt(ctx, store.ReceiptParams{Channel: "sms", ProviderID: "p-unknown",
		Status: store.AttemptDelivered, At: now})
	require.ErrorIs(t, err, store.ErrNotFound)
}
