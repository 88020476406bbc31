package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// exec runs DDL on the write connection, through the writer.
func execWriter(t *testing.T, s *Store, q string) {
	t.Helper()
	_, err := s.do(t.Context(), func(w *writer) (any, error) {
		_, err := w.conn.ExecContext(context.Background(), q)
		return nil, err
	})
	require.NoError(t, err)
}

// TestCallbackCommitsWithItsChange: the callback row is written by the same
// op as the status change, so when writing it fails the status change is
// rolled back too, and the other way round nothing is queued.
func TestCallbackCommitsWithItsChange(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTemp(t)
	m := newMsg()
	m.CallbackURL = "https://app.example.com/hook"
	m.IdempotencyScope = "shop"
	_, _, err := s.Enqueue(ctx, m)
	require.NoError(t, err)
	now := time.Now().UTC()
	_, err = s.Claim(ctx, store.ClaimParams{Owner: "d", Lease: time.Minute, Limit: 1, Now: now})
	require.NoError(t, err)

	// The outbox refuses rows: the Advance fails whole.
	execWriter(t, s, `CREATE TRIGGER refuse_callbacks BEFORE INSERT ON callbacks BEGIN SELECT RAISE(ABORT, 'outbox refused'); END`)
	adv := &store.Transition{MessageID: m.ID, Owner: "d",
		Attempts: []store.Attempt{{Seq: 1, Channel: "whatsapp", Status: store.AttemptSent, ProviderID: "wa1", StartedAt: now}},
		Status:   store.StatusSent, Channel: "whatsapp", NextAt: now.Add(time.Minute), Now: now}
	require.ErrorContains(t, s.Advance(ctx, adv), "outbox refused")
	got, err := s.Get(ctx, m.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusQueued, got.Status, "the status change rolled back with its callback")
	require.Empty(t, got.History)
	require.Equal(t, "d", got.LeaseOwner)

	execWriter(t, s, `DROP TRIGGER refuse_callbacks`)
	require.NoError(t, s.Advance(ctx, adv))
	cbs, err := s.Callbacks(ctx, m.ID)
	require.NoError(t, err)
	require.Len(t, cbs, 1)

	// Same for a receipt.
	execWriter(t, s, `CREATE TRIGGER refuse_callbacks BEFORE INSERT ON callbacks BEGIN SELECT RAISE(ABORT, 'outbox refused'); END`)
	_, err = s.RecordReceipt(ctx, store.ReceiptParams{Channel: "whatsapp", ProviderID: "wa1", Status: store.AttemptDelivered, At: now})
	require.ErrorContains(t, err, "outbox refused")
	got, err = s.Get(ctx, m.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusSent, got.Status)
	require.Equal(t, store.AttemptSent, got.History[0].Status)
	execWriter(t, s, `DROP TRIGGER refuse_callbacks`)
	_, err = s.RecordReceipt(ctx, store.ReceiptParams{Channel: "whatsapp", ProviderID: "wa1", Status: store.AttemptDelivered, At: now})
	require.NoError(t, err)
	cbs, err = s.Callbacks(ctx, m.ID)
	require.NoError(t, err)
	require.Len(t, cbs, 2)
}

func TestCallbackQueryPlans(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	plan := explain(t, s, claimCallbacksSQL, "owner", int64(2), int64(1), 10)
	require.Contains(t, plan, "USING INDEX callbacks_due (next_at<?)")
	require.Contains(t, plan, "SEARCH o USING INDEX callbacks_message (message_id=? AND id<?)")
	require.NotContains(t, plan, "TEMP B-TREE")
	require.NotContains(t, plan, "SCAN c\n")
}
