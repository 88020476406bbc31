// Package routing turns accepted messages into delivery attempts: it picks a
// policy, walks the policy's route, and decides after every attempt whether
// to wait, retry, or fail over to the next channel. Retries, breakers and
// failover live here and only here; channels make exactly one attempt.
package routing

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/sony/gobreaker/v2"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/store"
)

// Lane is one channel as routing sees it: the provider, its config and its
// circuit breaker (one per channel, per process).
type Lane struct {
	Name    string
	Kind    channels.Kind
	Channel channels.Channel
	Config  *config.Channel

	breaker *gobreaker.CircuitBreaker[channels.Result]
	// receipts is the receipt breaker: silent-outage detection.
	receipts *ReceiptHealth
	limiter  *rate.Limiter // nil: unlimited
	// pausedUntil (unix nanoseconds) is set when the provider answered 429
	// with a Retry-After: the whole channel waits, not just one message.
	pausedUntil atomic.Int64
}

// NewLane wraps ch with a breaker configured from cfg.
func NewLane(ch channels.Channel, cfg *config.Channel, log *slog.Logger) *Lane {
	if log == nil {
		log = slog.Default()
	}
	failures := uint32(max(cfg.Breaker.Failures, 1))
	l := &Lane{Name: cfg.Name, Kind: ch.Kind(), Channel: ch, Config: cfg}
	l.receipts = NewReceiptHealth(cfg.Name, l.Kind, cfg.Receipts, log)
	if ps := cfg.Rate.PerSecond(); ps > 0 {
		l.limiter = rate.NewLimiter(rate.Limit(ps), cfg.Rate.Burst())
	}
	l.breaker = gobreaker.NewCircuitBreaker[channels.Result](gobreaker.Settings{
		Name:        cfg.Name,
		MaxRequests: uint32(max(cfg.Breaker.HalfOpenRequests, 1)),
		Timeout:     cfg.Breaker.OpenFor.D(),
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		// Only failures that say something about the provider count: a bad
		// recipient or a polite 429 must not open the breaker for everyone.
		// Nor must a destination country the channel has no sender for
		// (misconfigured, so the route moves on at once): it is refused
		// before any provider call, and the channel's other countries
		// still send.
		IsExcluded: func(err error) bool {
			switch channels.ClassOf(err) {
			case channels.Permanent, channels.RateLimited:
				return true
			}
			return errors.Is(err, channels.ErrNoSender)
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			log.Warn("breaker state changed", "channel", name, "from", breakerName(from), "to", breakerName(to))
		},
	})
	return l
}

// maxInlineWait is the longest a worker waits for a rate-limit token
// itself; a longer wait puts the message back in the queue.
const maxInlineWait = time.Second

// reserve takes a send token. It returns 0 when the send may go now
// (possibly after waiting up to maxInlineWait), or how long the message
// should wait in the queue.
func (l *Lane) reserve(now time.Time) time.Duration {
	if until := l.pausedUntil.Load(); until > now.UnixNano() {
		return time.Duration(until - now.UnixNano())
	}
	if l.limiter == nil {
		return 0
	}
	r := l.limiter.ReserveN(now, 1)
	if !r.OK() {
		return time.Second
	}
	d := r.DelayFrom(now)
	if d <= 0 {
		return 0
	}
	if d > maxInlineWait {
		r.CancelAt(now)
		return d
	}
	time.Sleep(d)
	return 0
}

// pause stops sends on the channel until now+d (a provider's Retry-After).
func (l *Lane) pause(now time.Time, d time.Duration) {
	until := now.Add(d).UnixNano()
	for {
		cur := l.pausedUntil.Load()
		if cur >= until || l.pausedUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// PausedUntil is when a provider-requested pause ends (zero: not paused).
func (l *Lane) PausedUntil() time.Time {
	if n := l.pausedUntil.Load(); n > 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// BreakerState is "closed", "open" or "half-open".
func (l *Lane) BreakerState() string { return breakerName(l.breaker.State()) }

// ReceiptHealth is the channel's receipt breaker (silent-outage
// detection); nil for a nil lane (a channel a reload removed), and the
// breaker's methods take a nil receiver.
func (l *Lane) ReceiptHealth() *ReceiptHealth {
	if l == nil {
		return nil
	}
	return l.receipts
}

// BreakerCounts exposes the breaker's counters (for the channels view).
func (l *Lane) BreakerCounts() gobreaker.Counts { return l.breaker.Counts() }

func breakerName(s gobreaker.State) string {
	switch s {
	case gobreaker.StateClosed:
		return "closed"
	case gobreaker.StateOpen:
		return "open"
	default:
		return "half-open"
	}
}

// errBreakerOpen marks a send refused by the breaker without a provider call.
var errBreakerOpen = errors.New("breaker open")

// send runs one attempt through the breaker.
func (l *Lane) send(do func() (channels.Result, error)) (channels.Result, error) {
	res, err := l.breaker.Execute(do)
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return res, errBreakerOpen
	}
	return res, err
}

// AddressFor returns the recipient's address for kind, or "".
func AddressFor(to store.Recipient, kind channels.Kind) string {
	switch kind {
	case channels.SMS:
		return to.Phone
	case channels.WhatsApp:
		return to.WhatsApp
	case channels.Email:
		return to.Email
	case channels.Telegram:
		return to.Telegram
	}
	return ""
}

// backoff is exponential with jitter in [d/2, d], so retries of many
// messages after one provider blip do not arrive in lockstep.
func backoff(cfg config.Retry, tries int, rnd func() float64) time.Duration {
	d := cfg.Backoff.D()
	if d <= 0 {
		d = 500 * time.Millisecond
	}
	maxD := cfg.MaxBackoff.D()
	if maxD <= 0 {
		maxD = 30 * time.Second
	}
	for i := 1; i < tries && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	return d/2 + time.Duration(rnd()*float64(d/2))
}
