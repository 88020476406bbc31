package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/internal/testpg"
	"github.com/switchboard-gw/switchboard/store"
)

// message_queue (migrations 0012, 0013) holds exactly the messages that
// are not final, and the delivered ones waiting for their read (next_at
// set, store.AwaitsRead), whatever writes the status: its trigger's list
// of final statuses must be store.Status.Final's.
func TestMessageQueueStatuses(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := t.Context()
	next := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	for _, st := range store.Statuses() {
		for _, due := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/next_at=%v", st, due), func(t *testing.T) {
				m, _, err := s.Enqueue(ctx, msg())
				require.NoError(t, err)
				var at *time.Time
				if due {
					at = &next
				}
				_, err = s.pool.Exec(ctx, `UPDATE messages SET status = $2, next_at = $3 WHERE id = $1`, m.ID, string(st), at)
				require.NoError(t, err)
				var (
					n        int
					key      *time.Time
					readWait *bool
				)
				err = s.pool.QueryRow(ctx, `SELECT count(*), min(next_at), bool_or(read_wait) FROM message_queue WHERE id = $1`, m.ID).
					Scan(&n, &key, &readWait)
				require.NoError(t, err)
				awaits := due && store.AwaitsRead(st, next)
				if st.Final() && !awaits {
					require.Zero(t, n, "a %s message left the queue", st)
					return
				}
				require.Equal(t, 1, n, "a %s message is queued", st)
				require.NotNil(t, readWait)
				require.Equal(t, awaits, *readWait, "read_wait marks a delivered message waiting for its read")
				if due {
					require.NotNil(t, key)
					require.True(t, next.Equal(*key), "its next_at follows the message's: %v", *key)
				} else {
					require.Nil(t, key)
				}
			})
		}
	}
}

// A message's updates after the insert are HOT (migration 0012): no index
// on messages covers a column Claim, Advance, a receipt or a renewal
// changes.
func TestMessageUpdatesAreHOT(t *testing.T) {
	t.Parallel()
	dsn := testpg.DB(t)
	s, err := Open(t.Context(), dsn)
	require.NoError(t, err)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	m, _, err := s.Enqueue(ctx, msg(func(m *store.Message) { m.NextAt = now.Add(-time.Second) }))
	require.NoError(t, err)
	claimed, err := s.Claim(ctx, store.ClaimParams{Owner: "d", Lease: time.Minute, Limit: 10, Now: now})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	_, err = s.RenewLeases(ctx, "d", []string{m.ID}, now.Add(2*time.Minute))
	require.NoError(t, err)
	require.NoError(t, s.Advance(ctx, &store.Transition{
		MessageID: m.ID, Owner: "d", Status: store.StatusSent, Channel: "sms", Tries: 1,
		Attempts: []store.Attempt{{Seq: 1, Channel: "sms", Status: store.AttemptSent, ProviderID: "p-hot", StartedAt: now}},
		NextAt:   now.Add(time.Minute), Now: now,
	}))
	_, err = s.RecordReceipt(ctx, store.ReceiptParams{Channel: "sms", ProviderID: "p-hot", Status: store.AttemptDelivered, At: now})
	require.NoError(t, err)

	// A backend reports its table counts at most once a second, and one
	// that then sits idle waits up to 10 s more (PostgreSQL 15's
	// PGSTAT_IDLE_INTERVAL); one that exits reports them as it goes. So
	// the store's connections are closed, and a new one reads the view,
	// a fresh snapshot each time.
	require.NoError(t, s.Close())
	r := openDSN(t, dsn)
	var upd, hot int64
	require.Eventually(t, func() bool {
		err := r.pool.QueryRow(ctx, `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'messages'`).Scan(&upd, &hot)
		require.NoError(t, err)
		return upd >= 4
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, upd, hot, "every update of the message was HOT")
}
