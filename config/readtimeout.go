package config

import (
	"slices"
	"time"
)

// readTimeout checks policy pol's read_timeout (key prefix p): known channel
// kinds, positive durations, and no_read in failover_on. A read_timeout the
// policy never acts on is an error, not a warning: the default failover_on
// leaves no_read out, so forgetting it would silently wait for reads that
// change nothing.
func (v *checker) readTimeout(p string, pol *Policy) {
	for _, kind := range sortedKeys(pol.ReadTimeout) {
		kp := p + ".read_timeout." + kind
		if !slices.Contains(kinds, kind) {
			v.errorf(kp, "unknown channel kind %q (want whatsapp, sms, email or telegram)", kind)
		}
		v.positive(kp, pol.ReadTimeout[kind])
	}
	if len(pol.ReadTimeout) > 0 && !pol.FailsOverOn(TriggerNoRead) {
		v.errorf(p+".read_timeout", "set, but failover_on does not list no_read (the default failover_on leaves it out): add no_read to failover_on or remove read_timeout")
	}
}

// ReadTimeoutFor is how long a message delivered on a channel of kind may
// go unread before the route moves on with no_read; 0 when the policy does
// not fail over on no_read or sets no read_timeout for kind.
func (p *Policy) ReadTimeoutFor(kind string) time.Duration {
	if !p.FailsOverOn(TriggerNoRead) {
		return 0
	}
	return p.ReadTimeout[kind].D()
}
