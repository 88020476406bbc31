package routing

import (
	"time"

	"github.com/switchboard-gw/switchboard/admission"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// Quiet hours. A policy's quiet_hours move a message's due time to the end
// of the window; nothing else waits on them: the message is a row whose
// next_at is later, found by the dispatcher's Claim (which walks only due
// rows of the queue index) when that time comes. The check runs where the
// due time is set (the API at accept) and again just before a channel
// gets the message (stepper.try), so a failover step inside the window
// waits too, and a config reload that adds or moves a window holds
// messages already queued.

// QuietUntil returns the earliest time at or after at when p's quiet hours
// let a message for to go out: at itself when no window holds it. With
// timezone recipient and a number spanning several zones, the message
// waits until the window is over in every one of them, so no one in the
// number's range gets it inside the window.
func (r *Router) QuietUntil(p *config.Policy, to store.Recipient, at time.Time) time.Time {
	q := p.QuietHours
	if q == nil {
		return at
	}
	from, ok1 := config.Clock(q.From)
	until, ok2 := config.Clock(q.To)
	if !ok1 || !ok2 || from == until {
		return at // validation refuses these
	}
	return QuietEnd(from, until, quietZones(q, to), at)
}

// quietZones are the zones a window is judged in: the policy's fixed zone,
// or the recipient's (phone, else whatsapp number), else the fallback
// (UTC by default).
func quietZones(q *config.QuietHours, to store.Recipient) []*time.Location {
	if q.Timezone != config.QuietHoursRecipient {
		if loc := admission.Location(q.Timezone); loc != nil {
			return []*time.Location{loc}
		}
		return []*time.Location{time.UTC}
	}
	for _, num := range []string{to.Phone, to.WhatsApp} {
		if num == "" {
			continue
		}
		if zs := admission.Timezones(num); len(zs) > 0 {
			return zs
		}
	}
	if loc := admission.Location(q.FallbackTimezone); q.FallbackTimezone != "" && loc != nil {
		return []*time.Location{loc}
	}
	return []*time.Location{time.UTC}
}

// QuietEnd is the window math: the earliest time at or after at that is
// outside the daily window [from, to) (minutes after local midnight; to
// before from spans midnight) in every zone. Moving past one zone's window
// can land inside another's, so it repeats until no zone holds the time;
// the rounds are bounded, for windows whose union covers the whole day.
func QuietEnd(from, to int, zones []*time.Location, at time.Time) time.Time {
	t := at
	for range 2*len(zones) + 2 {
		moved := false
		for _, z := range zones {
			if end, in := windowEnd(from, to, t.In(z)); in {
				t, moved = end, true
			}
		}
		if !moved {
			break
		}
	}
	return t
}

// windowEnd reports whether local time lt is inside the window, and if so
// when the window ends, by the wall clock of lt's zone (so a DST change
// inside the window moves its end in UTC, not on the clock).
func windowEnd(from, to int, lt time.Time) (time.Time, bool) {
	m := lt.Hour()*60 + lt.Minute()
	var in bool
	if from < to {
		in = m >= from && m < to
	} else {
		in = m >= from || m < to
	}
	if !in {
		return time.Time{}, false
	}
	day := 0
	if from > to && m >= from {
		day = 1 // inside the evening part: the window ends tomorrow
	}
	y, mo, d := lt.Date()
	end := time.Date(y, mo, d+day, to/60, to%60, 0, 0, lt.Location())
	if w := end.Hour()*60 + end.Minute(); w != to {
		// to falls in a DST gap (02:30 on a spring-forward night): the
		// window ends when the clocks jump over it.
		start, stop := end.ZoneBounds()
		if w < to {
			end = stop
		} else {
			end = start
		}
	}
	if !end.After(lt) {
		end = lt.Add(time.Minute).Truncate(time.Minute) // never move backwards
	}
	return end, true
}

// QuietReason says why a message due at due (later than its accept time
// or send_at) waits: reason.QuietHours when p's window for to covers the
// moment before due (due is the window's end, or the message's expiry
// inside the window), else reason.SendAt. Scheduled messages are not
// stored with their reason: it follows from the due time and the policy.
func (r *Router) QuietReason(p *config.Policy, to store.Recipient, due time.Time) reason.Reason {
	before := due.Add(-time.Nanosecond)
	if p != nil && p.QuietHours != nil && r.QuietUntil(p, to, before).After(before) {
		return reason.QuietHours
	}
	return reason.SendAt
}

// quietWait holds m when p's quiet hours cover now, just before a channel
// would get it: the message is due again at the window's end (bounded by
// its TTL), with its status unchanged (queued with no attempt reads as
// scheduled). It returns true when the step is done.
func (s *stepper) quietWait(m *store.Message) bool {
	until := s.r.QuietUntil(s.pol, m.To, s.now)
	if !until.After(s.now) {
		return false
	}
	s.due(until)
	return true
}
