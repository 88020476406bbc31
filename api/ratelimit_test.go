package api

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
)

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

func TestTokenBucket(t *testing.T) {
	t.Parallel()
	type step struct {
		at   time.Duration // after t0
		n    int
		took int
		wait time.Duration // when took < n
	}
	tests := []struct {
		name  string
		rate  float64
		burst int
		steps []step
	}{
		{name: "burst, then one per interval", rate: 2, burst: 3, steps: []step{
			{at: 0, n: 3, took: 3},
			{at: 0, n: 1, took: 0, wait: 500 * time.Millisecond},
			{at: 250 * time.Millisecond, n: 1, took: 0, wait: 250 * time.Millisecond},
			{at: 500 * time.Millisecond, n: 1, took: 1},
			{at: time.Hour, n: 10, took: 3, wait: 500 * time.Millisecond}, // refills to the burst, no further
		}},
		{name: "take what there is", rate: 10, burst: 10, steps: []step{
			{at: 0, n: 4, took: 4},
			{at: 0, n: 10, took: 6, wait: 100 * time.Millisecond},
			{at: 300 * time.Millisecond, n: 5, took: 3, wait: 100 * time.Millisecond},
		}},
		{name: "slow rate", rate: 1.0 / 60, burst: 1, steps: []step{
			{at: 0, n: 1, took: 1},
			{at: 30 * time.Second, n: 1, took: 0, wait: 30 * time.Second},
			{at: time.Minute, n: 1, took: 1},
		}},
		{name: "a clock that goes back earns nothing", rate: 1, burst: 1, steps: []step{
			{at: 10 * time.Second, n: 1, took: 1},
			{at: 0, n: 1, took: 0, wait: time.Second},
			{at: 10 * time.Second, n: 1, took: 0, wait: time.Second},
			{at: 11 * time.Second, n: 1, took: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newTokenBucket(tt.rate, tt.burst, t0)
			for i, st := range tt.steps {
				took, wait := b.take(t0.Add(st.at), st.n)
				require.Equal(t, st.took, took, "step %d", i)
				require.InDelta(t, st.wait.Seconds(), wait.Seconds(), 1e-6, "step %d", i)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for wait, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 59 * time.Minute: 3540} {
		require.Equal(t, want, retryAfter(wait), wait)
	}
}

// TestTokenBucketConcurrent: however requests interleave, the bucket hands
// out exactly its tokens.
func TestTokenBucketConcurrent(t *testing.T) {
	t.Parallel()
	b := newTokenBucket(1, 100, t0)
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			took, _ := b.take(t0, 3)
			mu.Lock()
			total += took
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Equal(t, 100, total)
}

func rate(t *testing.T, s string) config.Rate {
	t.Helper()
	var r config.Rate
	require.NoError(t, r.UnmarshalText([]byte(s)))
	return r
}

func TestKeyLimitsReload(t *testing.T) {
	t.Parallel()
	keys := []config.APIKey{
		{Name: "shop", Rate: rate(t, "10/s")},
		{Name: "crm", Rate: rate(t, "1/s"), Burst: 5},
		{Name: "ops"},
	}
	l := newKeyLimits(keys, t0)
	took, retry := l.take("ops", t0, 1000)
	require.Equal(t, 1000, took, "a key without a rate is unlimited")
	require.Zero(t, retry)
	took, _ = l.take("shop", t0, 8)
	require.Equal(t, 8, took)
	took, _ = l.take("crm", t0, 5)
	require.Equal(t, 5, took)
	require.Equal(t, "1/s", l.describe("crm"))

	// Reload: shop unchanged keeps its bucket (2 tokens left); crm's rate
	// lowered starts from what it held (0), not a fresh burst; ops gets a
	// limit; a new key starts full.
	keys = []config.APIKey{
		{Name: "shop", Rate: rate(t, "10/s")},
		{Name: "crm", Rate: rate(t, "1/m"), Burst: 5},
		{Name: "ops", Rate: rate(t, "2/s")},
		{Name: "new", Rate: rate(t, "3/s")},
	}
	l.set(keys, t0)
	took, _ = l.take("shop", t0, 8)
	require.Equal(t, 2, took, "an unchanged key keeps its bucket")
	took, retry = l.take("crm", t0, 1)
	require.Equal(t, 0, took, "a changed rate does not refill the bucket")
	require.Equal(t, 60, retry, "and the new rate applies: one a minute")
	took, _ = l.take("ops", t0, 5)
	require.Equal(t, 2, took)
	took, _ = l.take("new", t0, 5)
	require.Equal(t, 3, took)

	// A key that loses its rate is unlimited; a removed key has no bucket.
	l.set([]config.APIKey{{Name: "shop"}}, t0)
	took, _ = l.take("shop", t0, 100)
	require.Equal(t, 100, took)
	require.Empty(t, l.describe("crm"))
}
