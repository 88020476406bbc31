package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	seq := func(from, to int, unit time.Duration) []time.Duration {
		var out []time.Duration
		for i := from; i <= to; i++ {
			out = append(out, time.Duration(i)*unit)
		}
		return out
	}
	tests := []struct {
		name   string
		values []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", []time.Duration{42}, 99, 42},
		{"p50 of 1..100 exact range", seq(1, 100, 1), 50, 50},
		{"p90 of 1..100", seq(1, 100, 1), 90, 90},
		{"p99 of 1..100", seq(1, 100, 1), 99, 99},
		{"p100 is max", seq(1, 100, 1), 100, 100},
		{"p0 is min", seq(1, 100, 1), 0, 1},
		{"p99.9 of 1..1000 rounds rank up", seq(1, 1000, 1), 99.9, 999},
		{"one slow outlier shows in max only", append(seq(1, 99, 1), time.Second), 99, 99},
		{"one slow outlier in 100 is p100", append(seq(1, 99, 1), time.Second), 100, time.Second},
		{"bucket bound clamped to max", []time.Duration{1000, 1000, 1000}, 50, 1000},
		{"bucket bound clamped to min", []time.Duration{5 * time.Millisecond}, 1, 5 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var h histogram
			for _, v := range tt.values {
				h.record(v)
			}
			if got := h.percentile(tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

// TestPercentileAccuracy checks the histogram against exact nearest-rank
// percentiles of random latencies from microseconds to seconds: never
// below the truth, and at most 1/128 above it.
func TestPercentileAccuracy(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	var vals []time.Duration
	// Two workers' histograms, merged, as the load generator does.
	var a, b, h histogram
	for i := range 100_000 {
		v := time.Duration(r.ExpFloat64() * float64(2*time.Millisecond))
		if i%1000 == 0 {
			v += time.Duration(r.IntN(int(time.Second)))
		}
		vals = append(vals, v)
		if i%2 == 0 {
			a.record(v)
		} else {
			b.record(v)
		}
	}
	h.merge(&a)
	h.merge(&b)
	slices.Sort(vals)
	for _, permille := range []int{10, 500, 900, 990, 999, 1000} {
		rank := (permille*len(vals) + 999) / 1000 // nearest rank, in integers
		exact := vals[rank-1]
		p := float64(permille) / 10
		got := h.percentile(p)
		if got < exact || float64(got-exact) > float64(exact)/128+1 {
			t.Errorf("p%v = %v, exact %v: off by more than 1/128", p, got, exact)
		}
	}
	if h.n != uint64(len(vals)) || time.Duration(h.max) != vals[len(vals)-1] || time.Duration(h.min) != vals[0] {
		t.Errorf("merged n=%d min=%v max=%v, want %d %v %v", h.n, time.Duration(h.min), time.Duration(h.max), len(vals), vals[0], vals[len(vals)-1])
	}
}

func TestBuckets(t *testing.T) {
	t.Parallel()
	// Every bucket's range must be contiguous with the next one.
	for i := range histBuckets {
		if got := bucketOf(bucketHigh(i)); got != i {
			t.Fatalf("bucketOf(bucketHigh(%d)=%d) = %d", i, bucketHigh(i), got)
		}
		if i == histBuckets-1 {
			if bucketHigh(i) != 1<<64-1 {
				t.Fatalf("last bucket ends at %d, want the largest uint64", bucketHigh(i))
			}
			break
		}
		if got := bucketOf(bucketHigh(i) + 1); got != i+1 {
			t.Fatalf("bucketOf(bucketHigh(%d)+1) = %d, want %d", i, got, i+1)
		}
	}
}
