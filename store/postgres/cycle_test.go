package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/internal/testpg"
	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/storetest"
)

// One worker cycle holding Advances, receipts and enqueues runs them in
// one transaction; a statement PostgreSQL refuses in it (a NUL byte in an
// enqueued body, or in an Advance's attempt) rolls the cycle back and each
// call runs alone, so only the failing call fails.
//
// The store under test starts with no worker, so every call is queued
// before the one worker started afterwards takes them all in one cycle.
func TestCycleOneTransaction(t *testing.T) {
	t.Parallel()
	const advances, receipts, enqueues = 4, 4, 12
	for _, tc := range []struct {
		name       string
		badAdvance int // index of the Advance that is refused, -1 for none
		badEnqueue int
	}{
		{name: "clean", badAdvance: -1, badEnqueue: -1},
		{name: "refused enqueue", badAdvance: -1, badEnqueue: 5},
		{name: "refused advance", badAdvance: 2, badEnqueue: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dsn := testpg.DB(t)
			setup := openDSN(t, dsn)
			now := time.Now().UTC().Truncate(time.Microsecond)

			// Messages for the cycle's Advances (leased to "d") and for
			// its receipts (sent, their attempts recorded).
			var advIDs, rcIDs []string
			for i := range advances + receipts {
				m, _, err := setup.Enqueue(ctx, msg(func(m *store.Message) {
					m.Body = fmt.Sprint("setup ", i)
					m.LeaseOwner, m.LeaseUntil = "d", now.Add(time.Minute)
				}))
				require.NoError(t, err)
				if i < advances {
					advIDs = append(advIDs, m.ID)
					continue
				}
				rcIDs = append(rcIDs, m.ID)
				require.NoError(t, setup.Advance(ctx, sentTransition(m.ID, fmt.Sprint("p-", i), "", now)))
			}

			s := storetest.MustOpen(t, func(ctx context.Context) (*Store, error) { return open(ctx, dsn, 0) })
			var wg sync.WaitGroup
			advErrs := make([]error, advances)
			for i, id := range advIDs {
				errText := ""
				if i == tc.badAdvance {
					errText = "bad\x00byte"
				}
				wg.Go(func() { advErrs[i] = s.Advance(ctx, sentTransition(id, fmt.Sprint("q-", i), errText, now)) })
			}
			rcOut := make([]store.ReceiptResult, receipts)
			rcErrs := make([]error, receipts)
			for i := range receipts {
				wg.Go(func() {
					rcOut[i], rcErrs[i] = s.RecordReceipt(ctx, store.ReceiptParams{
						Channel: "sms", ProviderID: fmt.Sprint("p-", advances+i),
						Status: store.AttemptDelivered, At: now.Add(time.Second),
					})
				})
			}
			msgs := make([]*store.Message, enqueues)
			enqOut := make([]*store.Message, enqueues)
			enqErrs := make([]error, enqueues)
			for i := range enqueues {
				msgs[i] = msg(func(m *store.Message) {
					m.Body = fmt.Sprint("cycle ", i)
					if i == tc.badEnqueue {
						m.Body = "bad\x00byte"
					}
				})
				wg.Go(func() { enqOut[i], _, enqErrs[i] = s.Enqueue(ctx, msgs[i]) })
			}
			// The bound only keeps a broken test from hanging.
			require.Eventually(t, func() bool {
				return len(s.txnc) == advances+receipts && len(s.enqc) == enqueues
			}, 10*time.Second, time.Millisecond, "every call queued")
			s.wg.Go(func() { s.batcher(false) })
			wg.Wait()

			written := []string{}
			for i, err := range advErrs {
				if i == tc.badAdvance {
					require.Error(t, err)
					require.NotErrorIs(t, err, store.ErrLeaseLost)
					m, err := s.Get(ctx, advIDs[i])
					require.NoError(t, err)
					require.Empty(t, m.History, "the refused Advance wrote nothing")
					continue
				}
				require.NoError(t, err, "advance %d", i)
				m, err := s.Get(ctx, advIDs[i])
				require.NoError(t, err)
				require.Equal(t, store.StatusSent, m.Status)
				require.Len(t, m.History, 1)
				written = append(written, advIDs[i])
			}
			for i, err := range rcErrs {
				require.NoError(t, err, "receipt %d", i)
				require.True(t, rcOut[i].Changed, "receipt %d", i)
				m, err := s.Get(ctx, rcIDs[i])
				require.NoError(t, err)
				require.Equal(t, store.StatusDelivered, m.Status)
				written = append(written, rcIDs[i])
			}
			for i, err := range enqErrs {
				if i == tc.badEnqueue {
					require.Error(t, err)
					continue
				}
				require.NoError(t, err, "enqueue %d", i)
				got, err := s.Get(ctx, enqOut[i].ID)
				require.NoError(t, err)
				require.Equal(t, msgs[i].Body, got.Body)
				written = append(written, enqOut[i].ID)
			}
			list, err := s.List(ctx, store.ListParams{Limit: 100})
			require.NoError(t, err)
			require.Len(t, list.Messages, advances+receipts+enqueues-boolInt(tc.badEnqueue >= 0),
				"every message stored once")

			// The last write of each row: one transaction for the whole
			// cycle when nothing was refused, one per call after a refusal.
			var xids []string
			rows, err := s.pool.Query(ctx, `SELECT DISTINCT xmin::text FROM messages WHERE id = ANY($1)`, written)
			require.NoError(t, err)
			for rows.Next() {
				var x string
				require.NoError(t, rows.Scan(&x))
				xids = append(xids, x)
			}
			require.NoError(t, rows.Err())
			if tc.badAdvance < 0 && tc.badEnqueue < 0 {
				require.Len(t, xids, 1, "one transaction for the cycle")
			} else {
				require.Len(t, xids, len(written), "each call alone after the refusal")
			}
		})
	}
}

// sentTransition records one sent SMS attempt with provider id pid on a
// message leased to "d"; errText goes into the attempt's error.
func sentTransition(id, pid, errText string, now time.Time) *store.Transition {
	return &store.Transition{
		MessageID: id, Owner: "d", Status: store.StatusSent, Channel: "sms", Step: 0, Tries: 1,
		Attempts: []store.Attempt{
			{Seq: 1, Step: 0, Channel: "sms", Status: store.AttemptSent, ProviderID: pid, Error: errText, StartedAt: now},
		},
		NextAt: now.Add(time.Minute), Now: now,
	}
}
