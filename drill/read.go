package drill

import (
	"fmt"
	"time"

	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// ReadReport is read-based failover on the primary (a policy's
// read_timeout, trigger no_read): messages it delivered that nobody read
// in time, and how fast the fallback took them over.
type ReadReport struct {
	// ReadInTime: messages read on the primary before any no_read.
	ReadInTime int `json:"read_in_time"`
	// NoRead: messages the route moved on from with no_read, and of those
	// delivered on a fallback, and read late on the primary (duplicates).
	NoRead          int `json:"no_read"`
	NoReadDelivered int `json:"no_read_delivered"`
	LateReads       int `json:"late_reads"`
	// Takeover: the primary's delivered receipt to the fallback's, for the
	// messages moved on with no_read and delivered.
	Takeover Latency `json:"takeover"`
}

// unreadMove reports whether attempt a was delivered and left unread: the
// route moved on from it on purpose, so a later delivery elsewhere is no
// duplicate (unless a late read makes it one).
func unreadMove(a store.Attempt) bool {
	return a.Reason == reason.NoRead && a.Status == store.AttemptDelivered
}

// read computes the ReadReport; nil when no message was read on the
// primary or moved on with no_read.
func (a *analysis) read() *ReadReport {
	primary := a.r.sc.Primary
	rr := &ReadReport{}
	var takeover []time.Duration
	for _, x := range a.msgs {
		var moved *store.Attempt
		for i := range x.m.History {
			at := &x.m.History[i]
			switch {
			case at.Channel == primary && at.Reason == reason.NoRead:
				moved = at
				rr.NoRead++
				if at.Status == store.AttemptRead {
					rr.LateReads++
				}
			case at.Channel == primary && at.Status == store.AttemptRead:
				rr.ReadInTime++
			case moved != nil && isDelivered(*at) && !at.DeliveredAt.IsZero():
				rr.NoReadDelivered++
				takeover = append(takeover, at.DeliveredAt.Sub(moved.DeliveredAt))
				moved = nil // the first delivery after the move
			}
		}
	}
	if rr.NoRead == 0 && rr.ReadInTime == 0 {
		return nil
	}
	rr.Takeover = latency(takeover)
	return rr
}

// checkRead checks the read-failover targets.
func (rep *Report) checkRead(t *Targets) {
	rr := rep.Read
	if rr == nil {
		rr = &ReadReport{}
	}
	add := func(name, want, got string, ok bool) {
		rep.Checks = append(rep.Checks, Check{Name: name, Want: want, Got: got, OK: ok})
	}
	if t.MinNoRead != nil {
		add("min_no_read", fmt.Sprintf(">= %d", *t.MinNoRead), fmt.Sprint(rr.NoRead), rr.NoRead >= *t.MinNoRead)
	}
	if t.MaxTakeover != nil {
		got := time.Duration(rr.Takeover.Max * float64(time.Millisecond))
		add("max_no_read_takeover", "<= "+t.MaxTakeover.String(), got.Round(time.Millisecond).String(),
			rr.Takeover.N > 0 && got <= t.MaxTakeover.D())
	}
}

// printRead prints the ReadReport, if any.
func (rep *Report) printRead(p func(string, ...any)) {
	rr := rep.Read
	if rr == nil {
		return
	}
	p("  read-based failover on %s: read in time %d; delivered and not read in time (no_read) %d, of which delivered on a fallback %d, read late (duplicates) %d",
		rep.Primary, rr.ReadInTime, rr.NoRead, rr.NoReadDelivered, rr.LateReads)
	p("    takeover (%s delivered -> fallback delivered): %s", rep.Primary, rr.Takeover)
}
