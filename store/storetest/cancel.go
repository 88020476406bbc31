package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

func (e *env) cancel(id string, now time.Time) (*store.Message, bool, error) {
	e.t.Helper()
	c, ok := e.s.(store.Canceler)
	require.True(e.t, ok, "the store implements store.Canceler")
	return c.Cancel(e.ctx, id, now)
}

// testCancel: a queued message (scheduled or due, not leased) is canceled
// at once, final, with its callback queued and no attempt; a repeat is
// idempotent; a message a dispatcher holds or a provider has is not
// cancelable.
func testCancel(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	later := e.enqueue(func(m *store.Message) {
		m.NextAt = t0.Add(time.Hour)
		m.CallbackURL = "https://app.example.com/hook"
		m.IdempotencyScope = "shop"
	})
	require.True(t, later.Scheduled(t0))
	m, canceled, err := e.cancel(later.ID, t0)
	require.NoError(t, err)
	require.True(t, canceled)
	require.Equal(t, store.StatusCanceled, m.Status)
	require.True(t, m.Status.Final())
	require.True(t, m.NextAt.IsZero(), "a canceled message is not due")
	require.Zero(t, m.Attempts)
	require.Equal(t, store.CancelNote, m.LastError)
	require.Empty(t, e.claim("dispatcher", t0.Add(2*time.Hour), 10), "Claim never takes a canceled message")

	cbs, err := e.s.Callbacks(e.ctx, later.ID)
	require.NoError(t, err)
	require.Len(t, cbs, 1, "the final status is reported once")
	require.Contains(t, string(cbs[0].Payload), `"canceled"`)

	m, canceled, err = e.cancel(later.ID, t0.Add(time.Minute))
	require.NoError(t, err, "canceling twice is idempotent")
	require.False(t, canceled)
	require.Equal(t, store.StatusCanceled, m.Status)
	cbs, err = e.s.Callbacks(e.ctx, later.ID)
	require.NoError(t, err)
	require.Len(t, cbs, 1, "a repeat queues no second callback")

	held := e.enqueue()
	e.claimOne("dispatcher", t0, held.ID)
	_, _, err = e.cancel(held.ID, t0.Add(time.Second))
	require.ErrorIs(t, err, store.ErrNotCancelable, "a dispatcher holds the lease: it may be handing the message over")
	_, _, err = e.cancel(held.ID, t0.Add(2*time.Minute))
	require.NoError(t, err, "a lease that ran out with no Advance leaves the message queued and cancelable")

	sent := e.enqueue()
	e.send(sent.ID, t0, "whatsapp")
	_, _, err = e.cancel(sent.ID, t0.Add(time.Second))
	require.ErrorIs(t, err, store.ErrNotCancelable)
	require.Equal(t, store.StatusSent, e.get(sent.ID).Status)

	_, _, err = e.cancel(newID(), t0)
	require.ErrorIs(t, err, store.ErrNotFound)
}

// testCancelRace: Cancel and Claim race for the same due messages; each
// message goes to exactly one of them. A message Cancel won is canceled
// and never claimed; one Claim won is not cancelable while leased, and the
// dispatcher's Advance records its send.
func testCancelRace(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	const n = 40
	var msgs []*store.Message
	for range n {
		msgs = append(msgs, e.enqueue())
	}
	var (
		mu       sync.Mutex
		claimed  = map[string]bool{}
		canceled = map[string]bool{}
		wg       sync.WaitGroup
	)
	wg.Go(func() {
		for range n {
			ms, err := e.s.Claim(e.ctx, store.ClaimParams{Owner: "dispatcher", Lease: time.Minute, Limit: 3, Now: t0})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for _, m := range ms {
				claimed[m.ID] = true
			}
			mu.Unlock()
		}
	})
	for _, m := range msgs {
		wg.Go(func() {
			_, ok, err := e.s.(store.Canceler).Cancel(e.ctx, m.ID, t0)
			switch {
			case err == nil && ok:
				mu.Lock()
				canceled[m.ID] = true
				mu.Unlock()
			case err != nil && !isNotCancelable(err):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, m := range msgs {
		require.False(t, claimed[m.ID] && canceled[m.ID], "message %s was both claimed and canceled", m.ID)
		got := e.get(m.ID)
		switch {
		case canceled[m.ID]:
			require.Equal(t, store.StatusCanceled, got.Status)
		case claimed[m.ID]:
			require.Equal(t, "dispatcher", got.LeaseOwner)
			require.NoError(t, e.s.Advance(e.ctx, &store.Transition{
				MessageID: m.ID, Owner: "dispatcher", Status: store.StatusSent, Channel: "sms",
				Attempts: []store.Attempt{{Seq: 1, Channel: "sms", Status: store.AttemptSent, ProviderID: "p-" + m.ID, StartedAt: t0}},
				NextAt:   t0.Add(time.Minute), Now: t0,
			}))
			require.Equal(t, store.StatusSent, e.get(m.ID).Status, "a claimed message goes on as sent")
		default:
			t.Fatalf("message %s was neither claimed nor canceled", m.ID)
		}
	}
}

func isNotCancelable(err error) bool { return err == store.ErrNotCancelable } //nolint:errorlint // the store returns it unwrapped

// testListScheduled: List tells scheduled (queued, no attempt, due after
// Now) from queued; canceled is a status to filter on like the others.
func testListScheduled(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	due := e.enqueue()
	later := e.enqueue(func(m *store.Message) { m.NextAt = t0.Add(time.Hour) })
	gone := e.enqueue(func(m *store.Message) { m.NextAt = t0.Add(time.Hour) })
	_, _, err := e.cancel(gone.ID, t0)
	require.NoError(t, err)
	list := func(s store.Status, now time.Time) []string {
		res, err := e.s.List(e.ctx, store.ListParams{Status: s, Now: now, Limit: 10})
		require.NoError(t, err)
		return ids(res.Messages)
	}
	require.Equal(t, []string{later.ID}, list(store.StatusScheduled, t0))
	require.Equal(t, []string{due.ID}, list(store.StatusQueued, t0))
	require.Equal(t, []string{gone.ID}, list(store.StatusCanceled, t0))
	// Past its due time and not yet claimed, it is queued like any other.
	require.Empty(t, list(store.StatusScheduled, t0.Add(2*time.Hour)))
	require.ElementsMatch(t, []string{due.ID, later.ID}, list(store.StatusQueued, t0.Add(2*time.Hour)))
}
