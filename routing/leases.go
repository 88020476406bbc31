package routing

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

// Lease keeping. A message is worked on by the process holding its lease;
// with several instances on one database (store/postgres) a lease that
// runs out lets another instance claim the message and send it again. So
// the dispatcher renews the leases of the messages it holds every lease/3,
// records the lease end the store confirmed for each one, and makes no
// provider call for a message whose confirmed lease is about to run out
// (leaseOK): a renewal failed (the database is unreachable) or the store
// said the lease is no longer ours. Such a message is left to the next
// claim. A provider call already under way is not cut short: renewal goes
// on during it.

// heldLease is one held message's lease as this dispatcher knows it.
type heldLease struct {
	n     int       // holds: the same id is held twice when claimed again while processed
	until time.Time // lease end the store confirmed; zero: lost
	gen   uint64    // set by each hold, so an older renewal's answer does not overwrite it
}

// leaseMargin is how much of a confirmed lease must be left for a provider
// call to start: a quarter of the lease, so one missed renewal (every
// third) does not stop work, and two do.
func (d *Dispatcher) leaseMargin() time.Duration { return d.cfg.Lease.D() / 4 }

// leaseEnd is the lease m was stored or claimed with; a store that does
// not return it gets the lease counted from at, when the claim started.
func (d *Dispatcher) leaseEnd(m *store.Message, at time.Time) time.Time {
	if !m.LeaseUntil.IsZero() {
		return m.LeaseUntil
	}
	return at.Add(d.cfg.Lease.D())
}

// hold adds id, leased until until, to the messages whose leases
// renewLoop keeps alive.
func (d *Dispatcher) hold(id string, until time.Time) {
	d.heldMu.Lock()
	defer d.heldMu.Unlock()
	h := d.held[id]
	if h == nil {
		h = &heldLease{}
		d.held[id] = h
	}
	h.n++
	d.holdGen++
	h.gen = d.holdGen
	if until.After(h.until) {
		h.until = until
	}
}

// unhold undoes one hold of id.
func (d *Dispatcher) unhold(id string) {
	d.heldMu.Lock()
	defer d.heldMu.Unlock()
	if h := d.held[id]; h != nil {
		if h.n--; h.n <= 0 {
			delete(d.held, id)
		}
	}
}

// heldIDs returns the ids of the held messages.
func (d *Dispatcher) heldIDs() []string {
	ids, _ := d.heldSnapshot()
	return ids
}

// heldSnapshot returns the held ids with each one's hold generation.
func (d *Dispatcher) heldSnapshot() ([]string, []uint64) {
	d.heldMu.Lock()
	defer d.heldMu.Unlock()
	ids := make([]string, 0, len(d.held))
	gens := make([]uint64, 0, len(d.held))
	for id, h := range d.held {
		ids = append(ids, id)
		gens = append(gens, h.gen)
	}
	return ids, gens
}

// leaseOK says whether a provider call for id may start: its confirmed
// lease has at least leaseMargin left. A message that is not held (Process
// driven directly by a test) is not judged.
func (d *Dispatcher) leaseOK(id string) bool {
	d.heldMu.Lock()
	h := d.held[id]
	var until time.Time
	if h != nil {
		until = h.until
	}
	d.heldMu.Unlock()
	if h == nil {
		return true
	}
	return d.now().Add(d.leaseMargin()).Before(until)
}

// renewLoop renews the leases of the held messages every lease/3 until
// stop is closed, so a message whose route takes longer than one lease
// (several slow channels, each up to its send_timeout) is not claimed by
// another instance while this one still works on it.
func (d *Dispatcher) renewLoop(stop <-chan struct{}) {
	tick, halt := d.renewTicker(d.renewEvery())
	defer halt()
	for {
		select {
		case <-stop:
			return
		case <-tick:
			d.renewLeases()
		}
	}
}

func (d *Dispatcher) renewEvery() time.Duration { return max(d.cfg.Lease.D()/3, time.Millisecond) }

// renewLeases extends the leases of the held messages to now + lease in one
// store call and records the new end of each lease renewed. A lease that
// was lost (it expired and another process claimed the message) is not
// renewed and is marked lost: no further provider call is made for it,
// and that message's Advance reports ErrLeaseLost. Ids whose Advance just
// cleared the lease are skipped the same way. When the call fails nothing
// is recorded, and the leases run out as far as leaseOK is concerned.
func (d *Dispatcher) renewLeases() {
	ids, gens := d.heldSnapshot()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.renewEvery())
	defer cancel()
	until := d.now().Add(d.cfg.Lease.D())
	var renewed []string
	var err error
	if lk, ok := d.store.(store.LeaseKeeper); ok {
		renewed, err = lk.RenewLeaseIDs(ctx, d.owner, ids, until)
	} else {
		// A store one process uses: nobody else can have taken a lease.
		if _, err = d.store.RenewLeases(ctx, d.owner, ids, until); err == nil {
			renewed = ids
		}
	}
	if err != nil {
		d.log.Error("renew leases; messages whose lease runs out are left to the next claim", "messages", len(ids), "err", err)
		return
	}
	ok := make(map[string]struct{}, len(renewed))
	for _, id := range renewed {
		ok[id] = struct{}{}
	}
	d.heldMu.Lock()
	for i, id := range ids {
		h := d.held[id]
		if h == nil || h.gen != gens[i] {
			continue // finished, or held again since the snapshot
		}
		if _, yes := ok[id]; yes {
			if until.After(h.until) {
				h.until = until
			}
		} else {
			h.until = time.Time{}
		}
	}
	d.heldMu.Unlock()
	if d.log.Enabled(ctx, slog.LevelDebug) {
		d.log.Debug("renewed leases", "held", len(ids), "renewed", len(renewed))
	}
}

// claim runs one Claim, bounded: on a database that stopped answering, the
// claim loop must come back to try again (and to stop at shutdown).
func (d *Dispatcher) claim(ctx context.Context, p store.ClaimParams) ([]*store.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, max(d.cfg.Lease.D()/2, time.Second))
	defer cancel()
	return d.store.Claim(ctx, p)
}

// Claim backoff while the store fails: the poll interval doubled per
// consecutive failure, up to maxClaimBackoff. A wake (new work handed
// over, a NOTIFY after the listener reconnects) still claims at once.
const maxClaimBackoff = 2 * time.Second

// claimFailed records a failed claim. The first failure of a run of them
// is logged as an error; later ones every claimLogEvery failures, so an
// outage does not flood the log.
func (d *Dispatcher) claimFailed(err error) {
	d.claimFailures++
	if d.claimFailures == 1 || d.claimFailures%claimLogEvery == 0 {
		d.log.Error("claim due messages; retrying with backoff", "err", err, "failures", d.claimFailures)
	}
}

const claimLogEvery = 30

// claimSucceeded ends a run of failed claims.
func (d *Dispatcher) claimSucceeded() {
	if d.claimFailures > 0 {
		d.log.Info("claiming due messages again", "after_failures", d.claimFailures)
		d.claimFailures = 0
	}
}

// claimWait is how long the claim loop waits for the next poll.
func (d *Dispatcher) claimWait() time.Duration {
	w := d.cfg.Poll.D()
	for i := 0; i < d.claimFailures && w < maxClaimBackoff; i++ {
		w *= 2
	}
	return min(w, max(maxClaimBackoff, d.cfg.Poll.D()))
}

// advanceRetryFor bounds how long Process keeps trying to record a step
// the store refused for a reason other than a lost lease: a database
// restart takes a few seconds, and a provider call that happened must be
// recorded (else the next claim sends again, flagged ambiguous). The
// message stays held meanwhile, so its lease is renewed once the store
// answers.
const advanceRetryFor = 30 * time.Second

// advance records t, retrying with backoff while the store fails, until
// advanceRetryFor has passed or the dispatcher is stopping.
func (d *Dispatcher) advance(ctx context.Context, t *store.Transition) error {
	deadline := time.Now().Add(advanceRetryFor)
	wait := 50 * time.Millisecond
	for try := 1; ; try++ {
		err := d.store.Advance(ctx, t)
		if err == nil || errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrNotFound) ||
			errors.Is(err, store.ErrClosed) || d.stopping.Load() || time.Now().Add(wait).After(deadline) {
			return err
		}
		if try == 1 {
			// Once per message, and once per interval for all of them (the
			// newest id, with a count): an outage makes every worker retry.
			d.advanceErrs.Log(d.log, slog.LevelWarn, "record transition failed; retrying until the store answers", "id", t.MessageID, "err", err, "for", advanceRetryFor)
		}
		time.Sleep(wait)
		wait = min(2*wait, 2*time.Second)
	}
}
