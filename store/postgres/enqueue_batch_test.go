package postgres

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/internal/testpg"
	"github.com/switchboard-gw/switchboard/store"
)

type enqOut struct {
	m        *store.Message
	replayed bool
	err      error
}

// enqueueAll enqueues msgs concurrently, spread over stores, so that they
// land in shared batches, and returns each one's answer.
func enqueueAll(t *testing.T, stores []*Store, msgs []*store.Message) []enqOut {
	t.Helper()
	out := make([]enqOut, len(msgs))
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Go(func() {
			sm, replayed, err := stores[i%len(stores)].Enqueue(t.Context(), m)
			out[i] = enqOut{sm, replayed, err}
		})
	}
	wg.Wait()
	return out
}

// Concurrent limited messages to one recipient, on two instances (two
// batchers): exactly Max are accepted, the rest refused with the count.
func TestEnqueueBatchRecipientLimit(t *testing.T) {
	t.Parallel()
	dsn := testpg.DB(t)
	stores := []*Store{openDSN(t, dsn), openDSN(t, dsn)}
	const n, limit = 40, 7
	since := time.Now().Add(-time.Hour)
	var msgs []*store.Message
	for i := range n {
		msgs = append(msgs, msg(func(m *store.Message) {
			m.Body = fmt.Sprint(i)
			if i%2 == 0 {
				m.To = store.Recipient{WhatsApp: "+15550001111"} // the same recipient key as the phone
			} else {
				m.To = store.Recipient{Phone: "+15550001111", Email: fmt.Sprintf("u%d@example.com", i)}
			}
			m.Limit = &store.RecipientLimit{Max: limit, Since: since}
		}))
	}
	accepted := 0
	for _, r := range enqueueAll(t, stores, msgs) {
		if r.err == nil {
			accepted++
			continue
		}
		var le *store.RecipientLimitError
		require.True(t, errors.As(r.err, &le), "unexpected error: %v", r.err)
		require.Equal(t, "tel:+15550001111", le.Key)
		require.Equal(t, limit, le.Count)
	}
	require.Equal(t, limit, accepted)
	c, err := stores[0].CountRecipient(t.Context(), "otp", "tel:+15550001111", since)
	require.NoError(t, err)
	require.Equal(t, limit, c)
}

// One idempotency key used by limited and unlimited messages at once, on
// two instances: one message is stored, every caller gets it back.
func TestEnqueueBatchIdempotencyMixed(t *testing.T) {
	t.Parallel()
	dsn := testpg.DB(t)
	stores := []*Store{openDSN(t, dsn), openDSN(t, dsn)}
	var msgs []*store.Message
	for i := range 48 {
		msgs = append(msgs, msg(func(m *store.Message) {
			m.IdempotencyScope, m.Body = "shop", fmt.Sprint(i)
			m.IdempotencyKey = fmt.Sprint("k", i%4)
			if i%3 == 0 {
				m.Limit = &store.RecipientLimit{Max: 1000, Since: time.Now().Add(-time.Hour)}
			}
		}))
	}
	out := enqueueAll(t, stores, msgs)
	stored := map[string]string{} // key -> id
	fresh := map[string]int{}
	for i, r := range out {
		require.NoError(t, r.err)
		k := msgs[i].IdempotencyKey
		if id, ok := stored[k]; ok {
			require.Equal(t, id, r.m.ID, "key %s", k)
		}
		stored[k] = r.m.ID
		if !r.replayed {
			fresh[k]++
		}
	}
	require.Len(t, stored, 4)
	for k, n := range fresh {
		require.Equal(t, 1, n, "key %s stored more than once", k)
	}
	list, err := stores[0].List(t.Context(), store.ListParams{})
	require.NoError(t, err)
	require.Len(t, list.Messages, 4)
}

// A message PostgreSQL refuses (a NUL byte in text) fails the batch it
// lands in; the batch is run again message by message, so only that
// message fails and every other one is stored.
func TestEnqueueBatchOneBadMessage(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	var msgs []*store.Message
	for i := range 32 {
		msgs = append(msgs, msg(func(m *store.Message) {
			m.Body = fmt.Sprint(i)
			if i == 5 {
				m.Body = "bad\x00byte"
			}
		}))
	}
	out := enqueueAll(t, []*Store{s}, msgs)
	for i, r := range out {
		if i == 5 {
			require.Error(t, r.err)
			continue
		}
		require.NoError(t, r.err)
		got, err := s.Get(t.Context(), r.m.ID)
		require.NoError(t, err)
		require.Equal(t, msgs[i].Body, got.Body)
	}
}

// Enqueue on a closed store answers ErrClosed, not a hang.
func TestEnqueueAfterClose(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), testpg.DB(t))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, _, err = s.Enqueue(t.Context(), msg())
	require.ErrorIs(t, err, store.ErrClosed)
}
