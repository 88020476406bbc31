package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram is a log-linear latency histogram in the spirit of HDR
// Histogram: values below 2^subBits ns are counted exactly, larger ones in
// 2^(subBits-1) buckets per power of two, so any reported percentile is
// within 1/128 (< 0.8%) of the true value. Recording is a few instructions
// and no allocation; each load worker owns one and they are merged at the
// end, so the load generator never contends on a lock.
type histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	min, max uint64
	sum      float64
}

const (
	subBits     = 8
	subCount    = 1 << subBits                      // exact values below this
	halfCount   = subCount / 2                      // buckets per power of two above it
	histBuckets = (64-subBits)*halfCount + subCount // enough for any uint64
)

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits // >= 1
	top := v >> shift                // in [halfCount, subCount)
	return shift*halfCount + int(top)
}

// bucketHigh is the largest value that lands in bucket i.
func bucketHigh(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	shift := i/halfCount - 1
	top := uint64(i%halfCount + halfCount)
	return (top+1)<<shift - 1
}

func (h *histogram) record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// percentile returns the smallest recorded value v (to the histogram's
// precision) such that at least p% of the values are <= v: the
// nearest-rank definition, so p99 of 100 values is the 99th smallest.
// The bucket's upper bound is reported, clamped to the exact min and max,
// so a percentile is never optimistic. p outside (0, 100] is clamped.
func (h *histogram) percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if p >= 100 {
		return time.Duration(h.max)
	}
	// The epsilon keeps float error from pushing an exact rank up by one
	// (99.9/100*1000 is 999.0000000000001).
	rank := uint64(math.Ceil(p/100*float64(h.n) - 1e-9))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(bucketHigh(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}
