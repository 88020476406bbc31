package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/internal/testpg"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/storetest"
)

// The Advances and receipts of one worker cycle, written as one merged
// statement each (merge.go), leave exactly the rows the same calls leave
// one at a time.
func TestMergedWritesMatchOneByOne(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := testpg.DB(t)
	setup := openDSN(t, dsn)
	now := time.Now().UTC().Truncate(time.Microsecond)

	// Advances that vary every value the merged statement carries.
	advances := []func(id string) *store.Transition{
		func(id string) *store.Transition { return sentTransition(id, "p-a0", "", now) },
		func(id string) *store.Transition {
			return &store.Transition{MessageID: id, Owner: "d", Status: store.StatusSent, Channel: "whatsapp", Step: 0, Tries: 1,
				Attempts: []store.Attempt{{Seq: 1, Step: 0, Channel: "whatsapp", Status: store.AttemptSent, ProviderID: "p-a1",
					Info: "canary", Reason: reason.Canary, Sender: "+15550000001", StartedAt: now}},
				NextAt: now.Add(30 * time.Second), Now: now}
		},
		func(id string) *store.Transition {
			return &store.Transition{MessageID: id, Owner: "d", Status: store.StatusFailed, Channel: "sms", Step: 1, Tries: 3,
				Attempts: []store.Attempt{{Seq: 1, Step: 1, Channel: "sms", Status: store.AttemptFailed, ErrorClass: string(channels.Permanent),
					Error: "rejected", Reason: reason.Error, Ambiguous: true, StartedAt: now, EndedAt: now.Add(time.Second)}},
				LastError: "sms: rejected", Now: now}
		},
		func(id string) *store.Transition {
			return &store.Transition{MessageID: id, Owner: "d", Status: store.StatusQueued, Channel: "sms", Step: 1, Tries: 0,
				Attempts: []store.Attempt{{Seq: 1, Step: 0, Channel: "whatsapp", Status: store.AttemptSkipped, Reason: reason.BreakerOpen,
					Error: "breaker open", StartedAt: now, EndedAt: now}},
				NextAt: now, LastError: "whatsapp: breaker open", Now: now}
		},
	}
	// Receipts on sent messages, each changing its message.
	receipts := []store.ReceiptParams{
		{Channel: "sms", Status: store.AttemptDelivered, At: now.Add(time.Second)},
		{Channel: "sms", Status: store.AttemptUndelivered, Error: "30003 unreachable", At: now.Add(2 * time.Second)},
		{Channel: "sms", Status: store.AttemptDelivered, At: now.Add(3 * time.Second)},
	}

	// run applies every call to fresh messages, all queued before a lone
	// worker starts (one cycle, merged) or one after another (each alone),
	// and returns the messages as stored.
	run := func(t *testing.T, merged bool) []*store.Message {
		var advIDs, rcIDs []string
		for i := range len(advances) + len(receipts) {
			m, _, err := setup.Enqueue(ctx, msg(func(m *store.Message) { m.LeaseOwner, m.LeaseUntil = "d", now.Add(time.Minute) }))
			require.NoError(t, err)
			if i < len(advances) {
				advIDs = append(advIDs, m.ID)
				continue
			}
			rcIDs = append(rcIDs, m.ID)
			require.NoError(t, setup.Advance(ctx, sentTransition(m.ID, fmt.Sprintf("p-%v-%d", merged, i), "", now)))
		}
		rcParams := make([]store.ReceiptParams, len(receipts))
		for i, p := range receipts {
			p.ProviderID = fmt.Sprintf("p-%v-%d", merged, len(advances)+i)
			rcParams[i] = p
		}
		if !merged {
			for i, id := range advIDs {
				require.NoError(t, setup.Advance(ctx, advances[i](id)))
			}
			for _, p := range rcParams {
				_, err := setup.RecordReceipt(ctx, p)
				require.NoError(t, err)
			}
		} else {
			s := storetest.MustOpen(t, func(ctx context.Context) (*Store, error) { return open(ctx, dsn, 0) })
			var mergedRows int
			s.onMerge = func(rows int) { mergedRows += rows }
			var wg sync.WaitGroup
			errs := make([]error, len(advIDs)+len(rcParams))
			for i, id := range advIDs {
				wg.Go(func() { errs[i] = s.Advance(ctx, advances[i](id)) })
			}
			for i, p := range rcParams {
				wg.Go(func() { _, errs[len(advIDs)+i] = s.RecordReceipt(ctx, p) })
			}
			require.Eventually(t, func() bool { return len(s.txnc) == len(errs) }, 10*time.Second, time.Millisecond)
			s.wg.Go(func() { s.batcher(false) })
			wg.Wait()
			for i, err := range errs {
				require.NoError(t, err, "call %d", i)
			}
			require.Equal(t, len(errs), mergedRows, "every call's write went in a merged statement")
		}
		var out []*store.Message
		for _, id := range append(advIDs, rcIDs...) {
			m, err := setup.Get(ctx, id)
			require.NoError(t, err)
			// What differs between the two runs by construction.
			m.ID, m.CreatedAt, m.UpdatedAt, m.ExpiresAt = "", time.Time{}, time.Time{}, time.Time{}
			for i := range m.History {
				m.History[i].MessageID, m.History[i].ProviderID = "", ""
			}
			out = append(out, m)
		}
		return out
	}
	alone := run(t, false)
	together := run(t, true)
	require.Equal(t, alone, together)
}

// A lone row keeps its one-row statement; two or more go as one merged
// statement with an array per column; a statement whose result is read,
// or whose values do not fit the columns, is not taken.
func TestMergerQueue(t *testing.T) {
	row := func(seq int) []any {
		return append(attemptArgs("m", &store.Attempt{Seq: seq, Channel: "sms", Status: store.AttemptSent, StartedAt: time.Now()}),
			"sent", "sms", 0, 1, seq, "", nil, time.Now())
	}
	var m merger
	require.True(t, m.take(&pgx.QueuedQuery{SQL: advanceWithAttemptSQL, Arguments: row(1)}))
	b := &pgx.Batch{}
	m.queue(b)
	require.Len(t, b.QueuedQueries, 1)
	require.Equal(t, advanceWithAttemptSQL, b.QueuedQueries[0].SQL)

	require.True(t, m.take(&pgx.QueuedQuery{SQL: advanceWithAttemptSQL, Arguments: row(2)}))
	b = &pgx.Batch{}
	m.queue(b)
	require.Len(t, b.QueuedQueries, 1)
	require.Equal(t, advanceSpec.multi, b.QueuedQueries[0].SQL)
	require.Equal(t, []int32{1, 2}, b.QueuedQueries[0].Arguments[1], "seq, one value per row")

	read := &pgx.QueuedQuery{SQL: advanceWithAttemptSQL, Arguments: row(3)}
	read.Exec(func(pgconn.CommandTag) error { return nil })
	require.False(t, m.take(read), "its result is read")
	odd := row(4)
	odd[1] = "four"
	require.False(t, m.take(&pgx.QueuedQuery{SQL: advanceWithAttemptSQL, Arguments: odd}), "a text value for seq")
	require.False(t, m.take(&pgx.QueuedQuery{SQL: "UPDATE messages SET attempts = $2 WHERE id = $1", Arguments: []any{"m", 1}}))
}

// In one cycle with merged writes, an Advance whose message is not stored
// gets ErrNotFound, two Advances of one message run one after the other
// (the second after the cycle), and the others are written.
func TestCycleAdvancesMissingAndRepeated(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := testpg.DB(t)
	setup := openDSN(t, dsn)
	now := time.Now().UTC().Truncate(time.Microsecond)
	var ids []string
	for range 3 {
		m, _, err := setup.Enqueue(ctx, msg(func(m *store.Message) { m.LeaseOwner, m.LeaseUntil = "d", now.Add(time.Minute) }))
		require.NoError(t, err)
		ids = append(ids, m.ID)
	}
	missing := "01a00000-0000-7000-8000-000000000000"

	s := storetest.MustOpen(t, func(ctx context.Context) (*Store, error) { return open(ctx, dsn, 0) })
	calls := []*store.Transition{
		sentTransition(ids[0], "p-0", "", now),
		sentTransition(missing, "p-x", "", now),
		sentTransition(ids[1], "p-1", "", now),
		sentTransition(ids[2], "p-2", "", now),
		// The same message again: a later step, its attempt 2.
		{MessageID: ids[2], Owner: "d", Status: store.StatusSent, Channel: "sms", Step: 0, Tries: 1,
			Attempts: []store.Attempt{{Seq: 2, Step: 0, Channel: "sms", Status: store.AttemptSent, ProviderID: "p-2b", StartedAt: now}},
			NextAt:   now.Add(time.Minute), Now: now},
	}
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, tr := range calls {
		wg.Go(func() { errs[i] = s.Advance(ctx, tr) })
	}
	require.Eventually(t, func() bool { return len(s.txnc) == len(calls) }, 10*time.Second, time.Millisecond)
	s.wg.Go(func() { s.batcher(false) })
	wg.Wait()

	require.ErrorIs(t, errs[1], store.ErrNotFound)
	for _, i := range []int{0, 2, 3} {
		require.NoError(t, errs[i], "call %d", i)
	}
	for _, id := range ids[:2] {
		m, err := s.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.StatusSent, m.Status)
		require.Len(t, m.History, 1)
	}
	// The second Advance of ids[2] ran after the cycle, on the state the
	// first left: the first dropped the lease, so the second is told it
	// lost it, and its attempt is still recorded, as one at a time.
	require.ErrorIs(t, errs[4], store.ErrLeaseLost)
	m, err := s.Get(ctx, ids[2])
	require.NoError(t, err)
	require.Len(t, m.History, 2)
	require.Equal(t, []string{"p-2", "p-2b"}, []string{m.History[0].ProviderID, m.History[1].ProviderID})
}
