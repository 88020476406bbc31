package sim

import (
	"fmt"
	"strings"

	"github.com/switchboard-gw/switchboard/config"
)

// Modes a simulated provider can be in.
const (
	ModeUp        = "up"        // accepts; a delivered receipt follows
	ModeDown      = "down"      // every send fails, transient (a loud outage)
	ModeReject    = "reject"    // every send fails, permanent
	ModeBlackhole = "blackhole" // accepts, never a receipt (a silent outage)
	ModeFlaky     = "flaky"     // transient failures at failure_rate, else up
	ModeTimeout   = "timeout"   // hangs until the caller gives up; ambiguous
	ModeUndeliver = "undeliver" // accepts, then an undelivered receipt
	// ModeUnread accepts and delivers, but nobody reads: no read receipt
	// even with read_delay (read-based failover drills and tests).
	ModeUnread = "unread"
)

// Modes lists every mode in the order error messages show them.
var Modes = []string{ModeUp, ModeDown, ModeReject, ModeBlackhole, ModeFlaky, ModeTimeout, ModeUndeliver, ModeUnread}

func validMode(m string) error {
	for _, x := range Modes {
		if x == m {
			return nil
		}
	}
	return fmt.Errorf("unknown sim mode %q (want one of %s)", m, strings.Join(Modes, ", "))
}

// Options are the sim channel's type-specific YAML keys.
type Options struct {
	Mode    string          `yaml:"mode"`
	Latency config.Duration `yaml:"latency"`
	// Jitter adds a uniformly random extra latency in [0, jitter].
	Jitter       config.Duration `yaml:"jitter"`
	ReceiptDelay config.Duration `yaml:"receipt_delay"`
	FailureRate  float64         `yaml:"failure_rate"`
	// ReadDelay, when set, emits a read receipt this long after the
	// delivered one, as WhatsApp does (not in mode unread). Zero: the
	// message is delivered and never read.
	ReadDelay config.Duration `yaml:"read_delay"`
	// Sender, when set, is reported as the sender of every accepted
	// send (Result.Sender), as a provider channel reports its From.
	Sender string `yaml:"sender"`
}

// DefaultOptions are the values used for keys the YAML leaves out. Options
// are decoded on top of them, so an explicit zero (receipt_delay: 0) is kept.
func DefaultOptions() Options {
	return Options{
		Mode:         ModeUp,
		ReceiptDelay: config.Duration(defaultReceiptDelay),
		FailureRate:  0.5,
	}
}

// problem is one invalid option, named by its YAML key so the factory can
// point at the line.
type problem struct {
	key string
	err error
}

func (o *Options) validate() []problem {
	var ps []problem
	if err := validMode(o.Mode); err != nil {
		ps = append(ps, problem{"mode", err})
	}
	for _, d := range []struct {
		key string
		v   config.Duration
	}{{"latency", o.Latency}, {"jitter", o.Jitter}, {"receipt_delay", o.ReceiptDelay}, {"read_delay", o.ReadDelay}} {
		if d.v < 0 {
			ps = append(ps, problem{d.key, fmt.Errorf("must not be negative, got %s", d.v.D())})
		}
	}
	// The negated form also rejects NaN.
	if !(o.FailureRate >= 0 && o.FailureRate <= 1) {
		ps = append(ps, problem{"failure_rate", fmt.Errorf("must be between 0 and 1, got %v", o.FailureRate)})
	}
	return ps
}
