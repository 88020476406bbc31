package postgres

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// Advances and receipts run concurrently, so they share batches: each
// keeps its own answer (ErrLeaseLost, ErrNotFound), and two receipts for
// one message (its two attempts' deliveries) still see each other's write:
// the second delivery on another channel marks the message a duplicate.
func TestTxnBatchAdvancesAndReceipts(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	const n = 24
	ids := make([]string, n)
	for i := range n {
		m, _, err := s.Enqueue(ctx, msg(func(m *store.Message) {
			m.Body = fmt.Sprint(i)
			m.LeaseOwner, m.LeaseUntil = "d", now.Add(time.Minute)
		}))
		require.NoError(t, err)
		ids[i] = m.ID
	}
	advance := func(i int, owner string) error {
		return s.Advance(ctx, &store.Transition{
			MessageID: ids[i], Owner: owner, Status: store.StatusSent, Channel: "sms", Step: 1, Tries: 1,
			Attempts: []store.Attempt{
				{Seq: 1, Step: 0, Channel: "whatsapp", Status: store.AttemptSent, ProviderID: fmt.Sprint("w-", i), StartedAt: now},
				{Seq: 2, Step: 1, Channel: "sms", Status: store.AttemptSent, ProviderID: fmt.Sprint("s-", i), StartedAt: now},
			},
			NextAt: now.Add(time.Minute), Now: now,
		})
	}
	advErrs := make([]error, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { advErrs[2*i] = advance(i, "d") })
		wg.Go(func() { advErrs[2*i+1] = advance(i, "someone-else") })
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, advErrs[2*i], "owner's advance of %d", i)
		require.ErrorIs(t, advErrs[2*i+1], store.ErrLeaseLost, "stranger's advance of %d", i)
	}

	type rcOut struct {
		res store.ReceiptResult
		err error
	}
	rcs := make([]rcOut, 3*n)
	for i := range n {
		for j, p := range []store.ReceiptParams{
			{Channel: "whatsapp", ProviderID: fmt.Sprint("w-", i)},
			{Channel: "sms", ProviderID: fmt.Sprint("s-", i)},
			{Channel: "sms", ProviderID: fmt.Sprint("unknown-", i)},
		} {
			p.Status, p.At = store.AttemptDelivered, now.Add(time.Second)
			wg.Go(func() {
				r, err := s.RecordReceipt(ctx, p)
				rcs[3*i+j] = rcOut{r, err}
			})
		}
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, rcs[3*i].err)
		require.NoError(t, rcs[3*i+1].err)
		require.ErrorIs(t, rcs[3*i+2].err, store.ErrNotFound)
		require.True(t, rcs[3*i].res.Changed && rcs[3*i+1].res.Changed)
		require.NotEqual(t, rcs[3*i].res.Duplicate, rcs[3*i+1].res.Duplicate,
			"exactly one of the two deliveries of %d is the duplicate", i)
		m, err := s.Get(ctx, ids[i])
		require.NoError(t, err)
		require.Equal(t, store.StatusDelivered, m.Status)
		require.True(t, m.Duplicate, "message %d delivered on two channels", i)
		require.Len(t, m.History, 2)
		for _, a := range m.History {
			require.Equal(t, store.AttemptDelivered, a.Status)
		}
	}
}
