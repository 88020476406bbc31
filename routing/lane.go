// Package routing turns accepted messages into delivery attempts: it picks a
// policy, walks the policy's route, and decides after every attempt whether
// to wait, retry, or fail over to the next channel. Retries, breakers and
// failover live here and only here; channels make exactly one attempt.
package routing

import (
	"errors"
	"log/slog"
	"time"

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
}

// NewLane wraps ch with a breaker configured from cfg.
func NewLane(ch channels.Channel, cfg *config.Channel, log *slog.Logger) *Lane {
	if log == nil {
		log = slog.Default()
	}
	failures := uint32(max(cfg.Breaker.Failures, 1))
	l := &Lane{Name: cfg.Name, Kind: ch.Kind(), Channel: ch, Config: cfg}
	l.breaker = gobreaker.NewCircuitBreaker[channels.Result](gobreaker.Settings{
		Name:        cfg.Name,
		MaxRequests: uint32(max(cfg.Breaker.HalfOpenRequests, 1)),
		Timeout:     cfg.Breaker.OpenFor.D(),
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		// Only failures that say something about the provider count: a bad
		// recipient or a polite 429 must not open the breaker for everyone.
		IsExcluded: func(err error) bool {
			switch channels.ClassOf(err) {
			case channels.Permanent, channels.RateLimited:
				return true
			}
			return false
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			log.Warn("breaker state changed", "channel", name, "from", breakerName(from), "to", breakerName(to))
		},
	})
	return l
}

// BreakerState is "closed", "open" or "half-open".
func (l *Lane) BreakerState() string { return breakerName(l.breaker.State()) }

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
