package routing

import (
	"fmt"
	"time"

	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// Read-based failover (a policy's read_timeout, trigger no_read). A message
// delivered on a channel whose kind has a read timeout stays delivered and
// due at its read deadline: the receipt sets it (store.DecideReceipt, with
// ReceiptParams.ReadTimeouts from readWaits), Claim takes it then like any
// due message, and judgeRead either finds it read (a read receipt makes it
// final and no longer due) or moves the route on with no_read. No timer or
// poll per message: the deadline is the message's next_at.

// readWaits maps each channel name to the read timeout of every policy
// whose route has it and that fails over on no_read for its kind.
func readWaits(r *Router) map[string]map[string]time.Duration {
	out := map[string]map[string]time.Duration{}
	for _, p := range r.policies {
		for _, name := range p.Route {
			l := r.lanes[name]
			if l == nil {
				continue
			}
			if rt := p.ReadTimeoutFor(string(l.Kind)); rt > 0 {
				if out[name] == nil {
					out[name] = map[string]time.Duration{}
				}
				out[name][p.Name] = rt
			}
		}
	}
	return out
}

// ReadTimeouts returns, by policy name, how long a message delivered on
// channel may go unread (nil when no policy waits for reads on it).
func (r *Router) ReadTimeouts(channel string) map[string]time.Duration { return r.readWait[channel] }

// readTimeout is how long the step's policy waits for a read on channel
// name; 0 for none.
func (s *stepper) readTimeout(name string) time.Duration {
	l := s.r.lanes[name]
	if l == nil {
		return 0
	}
	return s.pol.ReadTimeoutFor(string(l.Kind))
}

// awaitRead leaves a message delivered at end on lane (at once, by the
// provider's answer) due at its read deadline, if its policy waits for a
// read there and the route has a channel left to move on to.
func (s *stepper) awaitRead(m *store.Message, lane *Lane, end time.Time) {
	if rt := s.readTimeout(lane.Name); rt > 0 && s.t.Step+1 < len(m.Route) {
		s.t.ReadWait = true
		s.due(end.Add(rt))
	}
}

// judgeRead judges a message claimed delivered: it was waiting for a read
// receipt on its current attempt, and its read deadline (or TTL) came. It
// returns true when the step is done (the message stays delivered, still
// due or not); otherwise the route moves on with no_read and the message's
// status becomes the next channel's outcome.
func (s *stepper) judgeRead(m *store.Message) bool {
	t, c := s.t, m.Current
	t.ReadWait, t.Status, t.NextAt = true, store.StatusDelivered, time.Time{}
	if c == nil || c.Status != store.AttemptDelivered || c.DeliveredAt.IsZero() {
		return true // read meanwhile, or nothing to judge: delivered stays
	}
	timeout := s.readTimeout(c.Channel)
	switch {
	case timeout <= 0 || m.Step+1 >= len(m.Route):
		// A reload dropped the read timeout, or no channel is left to
		// move on to: delivered is the outcome.
		return true
	case !m.ExpiresAt.IsZero() && !s.now.Before(m.ExpiresAt):
		// The TTL passed: nothing more goes out, and delivered it was.
		return true
	case s.now.Before(c.DeliveredAt.Add(timeout)):
		// Claimed early (another instance's clock): keep waiting.
		s.due(c.DeliveredAt.Add(timeout))
		return true
	}
	c.Reason, c.EndedAt = reason.NoRead, s.now
	t.Attempts = append(t.Attempts, *c)
	t.LastError = fmt.Sprintf("%s: delivered, but not read within %s", c.Channel, timeout)
	t.Status = store.StatusSending
	t.Step, t.Tries = m.Step+1, 0
	return false
}

// withReadTimeouts adds to a delivered receipt's params the read timeouts
// of the policies that wait for reads on its channel.
func (rc *Receipts) withReadTimeouts(p *store.ReceiptParams) {
	if p.Status != store.AttemptDelivered || rc.Router == nil {
		return
	}
	if r := rc.Router(); r != nil {
		p.ReadTimeouts = r.ReadTimeouts(p.Channel)
	}
}
