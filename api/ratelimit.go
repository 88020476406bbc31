package api

import (
	"math"
	"sync"
	"time"

	"github.com/switchboard-gw/switchboard/config"
)

// tokenBucket is a token bucket read against a clock the caller passes in
// (the API's limit clock), so tests advance time instead of sleeping. It
// is not golang.org/x/time/rate: a batch needs "take as many as you have,
// up to n", which that limiter does not offer atomically.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second, > 0
	burst  float64 // capacity, >= 1
	tokens float64
	last   time.Time
}

func newTokenBucket(perSecond float64, burst int, now time.Time) *tokenBucket {
	return &tokenBucket{rate: perSecond, burst: float64(burst), tokens: float64(burst), last: now}
}

// refill adds the tokens earned since the last call. A clock that went
// backwards earns nothing (and does not move last back, so the time is not
// earned twice).
func (b *tokenBucket) refill(now time.Time) {
	if now.After(b.last) {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
}

// take removes up to n whole tokens and returns how many it took. When it
// took fewer than n, wait is how long until the next token.
func (b *tokenBucket) take(now time.Time, n int) (took int, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	// The epsilon absorbs float error: 2.9999999 tokens are 3.
	have := int(math.Floor(b.tokens + 1e-9))
	took = min(n, max(have, 0))
	b.tokens -= float64(took)
	if took < n {
		wait = time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	}
	return took, wait
}

// level returns the tokens in the bucket now.
func (b *tokenBucket) level(now time.Time) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	return b.tokens
}

// retryAfter is a Retry-After value: whole seconds, rounded up, at least 1.
func retryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}

// keyLimits holds a token bucket per API key that has auth.keys[].rate.
// Buckets live in this process only: N instances allow up to N × rate.
type keyLimits struct {
	mu      sync.RWMutex
	buckets map[string]*keyBucket // by key name
}

type keyBucket struct {
	*tokenBucket
	rate  config.Rate
	burst int
}

func newKeyLimits(keys []config.APIKey, now time.Time) *keyLimits {
	l := &keyLimits{}
	l.set(keys, now)
	return l
}

// set puts the keys' limits in force (start and every config reload). A key
// whose rate and burst did not change keeps its bucket, tokens and all; a
// changed one gets a new bucket that starts with what the old one held
// (capped at the new burst), so lowering a limit cannot hand out a fresh
// burst. A key that lost its rate is unlimited.
func (l *keyLimits) set(keys []config.APIKey, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	next := make(map[string]*keyBucket, len(keys))
	for _, k := range keys {
		ps := k.Rate.PerSecond()
		if ps <= 0 {
			continue
		}
		old := l.buckets[k.Name]
		if old != nil && old.rate == k.Rate && old.burst == k.RateBurst() {
			next[k.Name] = old
			continue
		}
		b := &keyBucket{tokenBucket: newTokenBucket(ps, k.RateBurst(), now), rate: k.Rate, burst: k.RateBurst()}
		if old != nil {
			b.tokens = math.Min(b.tokenBucket.burst, old.level(now))
		}
		next[k.Name] = b
	}
	l.buckets = next
}

// take takes up to n tokens for the key named name: took == n when the key
// has no limit. retry is the Retry-After, in seconds, when took < n.
func (l *keyLimits) take(name string, now time.Time, n int) (took, retry int) {
	l.mu.RLock()
	b := l.buckets[name]
	l.mu.RUnlock()
	if b == nil {
		return n, 0
	}
	took, wait := b.take(now, n)
	if took < n {
		retry = retryAfter(wait)
	}
	return took, retry
}

// describe says what the key's limit is, for error messages ("50/s").
func (l *keyLimits) describe(name string) string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if b := l.buckets[name]; b != nil {
		r, _ := b.rate.MarshalText()
		return string(r)
	}
	return ""
}
