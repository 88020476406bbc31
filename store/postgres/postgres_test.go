package postgres

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/internal/testpg"
	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

// openTemp opens a store on a new, empty database.
func openTemp(t *testing.T) *Store {
	t.Helper()
	return openDSN(t, testpg.DB(t))
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func openDSN(t *testing.T, dsn string) *Store {
	t.Helper()
	return storetest.MustOpen(t, func(ctx context.Context) (*Store, error) { return Open(ctx, dsn) })
}

func msg(mods ...func(*store.Message)) *store.Message {
	m := &store.Message{Policy: "otp", Route: []string{"whatsapp", "sms"}, To: store.Recipient{Phone: "+15551234567"}, Body: "hi"}
	for _, f := range mods {
		f(m)
	}
	return m
}

// waitSignal waits for c; the bound only keeps a broken listener from
// hanging the test, it is not a latency requirement.
func waitSignal(t *testing.T, c <-chan struct{}, what string) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-c:
		return time.Since(start)
	case <-time.After(30 * time.Second):
		t.Fatalf("no notification: %s", what)
		return 0
	}
}

// Instances starting at once on a new database apply each migration once.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	dsn := testpg.DB(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(t.Context(), dsn)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	s := openDSN(t, dsn)
	ms, err := migrations()
	require.NoError(t, err)
	var n, maxV int
	require.NoError(t, s.pool.QueryRow(t.Context(), "SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &maxV))
	require.Equal(t, len(ms), n)
	require.Equal(t, ms[len(ms)-1].Version, maxV)
}

// Several instances claiming at once each get different messages, and
// together all of them.
func TestClaimConcurrentInstances(t *testing.T) {
	t.Parallel()
	dsn := testpg.DB(t)
	stores := []*Store{openDSN(t, dsn), openDSN(t, dsn), openDSN(t, dsn)}
	const total = 300
	now := time.Now()
	for range total {
		_, _, err := stores[0].Enqueue(t.Context(), msg(func(m *store.Message) { m.CreatedAt = now.Add(-time.Minute) }))
		require.NoError(t, err)
	}
	var (
		mu     sync.Mutex
		seen   = map[string]string{}
		errs   []error
		wg     sync.WaitGroup
		twices int
	)
	for i, s := range stores {
		for w := range 2 {
			owner := fmt.Sprintf("instance-%d/%d", i, w)
			wg.Go(func() {
				for {
					ms, err := s.Claim(t.Context(), store.ClaimParams{Owner: owner, Lease: time.Hour, Limit: 7, Now: now})
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					}
					for _, m := range ms {
						if _, dup := seen[m.ID]; dup {
							twices++
						}
						seen[m.ID] = owner
					}
					mu.Unlock()
					if err != nil || len(ms) == 0 {
						return
					}
				}
			})
		}
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Zero(t, twices, "a message was claimed twice")
	require.Len(t, seen, total)
}

// An enqueue on one instance wakes another's dispatcher through
// LISTEN/NOTIFY. The latency is logged for comparison with the poll
// interval (dispatch.poll, default 200ms: 100ms on average).
func TestNotifyAcrossInstances(t *testing.T) {
	t.Parallel()
	dsn := testpg.DB(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	wake := b.Notify()
	waitSignal(t, wake, "the listener's first signal after it connects")

	var lat []time.Duration
	for range 20 {
		start := time.Now()
		_, _, err := a.Enqueue(t.Context(), msg())
		require.NoError(t, err)
		waitSignal(t, wake, "enqueue on another instance")
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("enqueue on A -> B notified: median %s, max %s over %d (polling: poll/2 on average, poll at worst)",
		lat[len(lat)/2], lat[len(lat)-1], len(lat))

	// Released leases and an undelivered failover wake too.
	m, _, err := a.Enqueue(t.Context(), msg(func(m *store.Message) { m.LeaseOwner, m.LeaseUntil = "a", time.Now().Add(time.Hour) }))
	require.NoError(t, err)
	select {
	case <-wake:
	default:
	}
	require.NoError(t, a.Release(t.Context(), "a"))
	waitSignal(t, wake, "release")
	_ = m
}

func TestOverridesShared(t *testing.T) {
	t.Parallel()
	dsn := testpg.DB(t)
	a, b := openDSN(t, dsn), openDSN(t, dsn)
	changed := b.OverridesChanged()
	waitSignal(t, changed, "the listener's first signal")
	none, err := b.Overrides(t.Context())
	require.NoError(t, err)
	require.Empty(t, none)

	at := time.Date(2031, 3, 4, 5, 6, 7, 123456000, time.UTC)
	require.NoError(t, a.SetOverride(t.Context(), store.Override{Channel: "whatsapp", Disabled: true, Reason: "outage", By: "ops", At: at}))
	waitSignal(t, changed, "an override set on another instance")
	got, err := b.Overrides(t.Context())
	require.NoError(t, err)
	require.Equal(t, []store.Override{{Channel: "whatsapp", Disabled: true, Reason: "outage", By: "ops", At: at}}, got)

	require.NoError(t, a.SetOverride(t.Context(), store.Override{Channel: "whatsapp", By: "ops", At: at.Add(time.Hour)}))
	waitSignal(t, changed, "enable")
	got, err = b.Overrides(t.Context())
	require.NoError(t, err)
	require.Equal(t, []store.Override{{Channel: "whatsapp", By: "ops", At: at.Add(time.Hour)}}, got)
}

func TestMakeDueAndRecentAttempts(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := t.Context()
	t0 := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	m, _, err := s.Enqueue(ctx, msg(func(m *store.Message) { m.CreatedAt = t0 }))
	require.NoError(t, err)
	c, err := s.Claim(ctx, store.ClaimParams{Owner: "d", Lease: time.Minute, Limit: 1, Now: t0})
	require.NoError(t, err)
	require.Len(t, c, 1)
	require.NoError(t, s.Advance(ctx, &store.Transition{MessageID: m.ID, Owner: "d", Status: store.StatusSent, Channel: "whatsapp",
		Attempts: []store.Attempt{{Seq: 1, Channel: "whatsapp", Status: store.AttemptSent, ProviderID: "p1", StartedAt: t0}}, Now: t0}))

	n, err := s.MakeDue(ctx, []store.AttemptRef{{MessageID: m.ID, Seq: 1, Channel: "sms"}, {MessageID: m.ID, Seq: 2, Channel: "whatsapp"}}, t0.Add(time.Second))
	require.NoError(t, err)
	require.Zero(t, n, "not the current attempt")
	n, err = s.MakeDue(ctx, []store.AttemptRef{{MessageID: m.ID, Seq: 1, Channel: "whatsapp"}}, t0.Add(time.Second))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	c, err = s.Claim(ctx, store.ClaimParams{Owner: "d", Lease: time.Minute, Limit: 1, Now: t0.Add(time.Second)})
	require.NoError(t, err)
	require.Len(t, c, 1)

	atts, err := s.RecentAttempts(ctx, time.Now().Add(-time.Hour), t0, 10)
	require.NoError(t, err)
	require.Len(t, atts, 1)
	require.Equal(t, "p1", atts[0].ProviderID)
}

// A database that recorded a later migration without an earlier one (a
// build where the numbers landed out of order) gets the earlier one when
// an instance starts, instead of skipping it because a newer version is
// recorded.
func TestOpenAppliesAMissingEarlierMigration(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := testpg.DB(t)
	s, err := Open(ctx, dsn)
	require.NoError(t, err)
	// As if 0007 (the suppression list) had never run here.
	_, err = s.pool.Exec(ctx, "DROP TABLE suppressions")
	require.NoError(t, err)
	_, err = s.pool.Exec(ctx, "DELETE FROM schema_migrations WHERE version = 7")
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s = openDSN(t, dsn)
	require.NoError(t, s.Suppress(ctx, store.Suppression{Address: "+15551234567", Kind: "sms", Source: store.SourceAPI}),
		"the suppressions table is back")
	ms, err := migrations()
	require.NoError(t, err)
	var n int
	require.NoError(t, s.pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations WHERE version = 7").Scan(&n))
	require.Equal(t, 1, n)
	require.NoError(t, s.pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n))
	require.Equal(t, len(ms), n)
}
