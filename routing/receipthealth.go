package routing

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/store"
)

// The receipt breaker: a channel that accepts messages and never delivers
// them (the silent outage) looks fine to probes and to the circuit breaker.
// Only its delivery receipts tell. ReceiptHealth judges, per channel, every
// send that expected a delivered receipt by a deadline (its policy has a
// receipt_timeout for the channel):
//
//   - the dispatcher registers the expectation when the provider accepts
//     the message (expect);
//   - a delivered receipt confirms it, in time or late, and gives its
//     latency (receipt, from Receipts);
//   - the dispatcher's no_receipt trigger says the deadline passed without
//     one (miss). Canaries, and sends whose policy does not fail over on
//     no_receipt, get no such step: they are judged missed when their
//     deadline passes (sweep).
//
// Outcomes go into a sliding window of windowBuckets buckets. When the
// window holds at least min_sends judged sends and fewer than
// min_confirmed_ratio of them were confirmed in time, or more than a tenth
// of the receipts came after their deadline (latency p90 over the
// deadline), the channel is silent.
//
// Counting is per process and only for the sends this process made: a
// receipt or a deadline step for a send it does not know (another instance
// sent it, or this one restarted) is not counted, so with several
// instances each judges a sample of the traffic, unbiased.

const (
	windowBuckets = 10
	// maxTracked bounds the expectations (pending and recently judged)
	// kept per channel; past it new sends are not judged.
	maxTracked = 100_000
	// sweepEvery bounds how often the expectations are scanned for passed
	// deadlines and for entries to forget.
	sweepEvery = time.Second
	// lateShare: more than this share of receipts after their deadline
	// means receipt latency p90 is past the deadline.
	lateShare = 0.1
)

// latencyBounds are the receipt latency histogram's bucket upper bounds;
// a last bucket holds everything slower.
var latencyBounds = [...]time.Duration{
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second,
	10 * time.Second, 15 * time.Second, 20 * time.Second, 30 * time.Second, 45 * time.Second,
	time.Minute, 90 * time.Second, 2 * time.Minute, 3 * time.Minute, 5 * time.Minute,
	10 * time.Minute, 30 * time.Minute,
}

// ReceiptHealth is one channel's receipt breaker. Lanes own one each, like
// their circuit breaker. Safe for concurrent use.
type ReceiptHealth struct {
	name string
	kind channels.Kind
	cfg  config.ReceiptHealth
	log  *slog.Logger

	silent    atomic.Bool
	flushing  atomic.Bool  // entering silent left waiting messages to fail over
	nextSweep atomic.Int64 // unix nanoseconds

	mu          sync.Mutex
	width       time.Duration
	buckets     [windowBuckets]rhBucket
	tracked     map[expKey]*expectation
	flush       []store.AttemptRef
	silentSince time.Time
	recoveredAt time.Time
	canaryRun   int // canaries confirmed in time, in a row
	// runFrom is when the newest canary counted in canaryRun was sent. A
	// canary sent before it that fails later (its deadline falls after a
	// newer one was confirmed) is old news about the channel and does not
	// break the run.
	runFrom     time.Time
	eligible    uint64 // messages that skipped the channel while silent (canary share)
	lastTimeout time.Duration
}

type expKey struct {
	id  string
	seq int
}

// expectHow says how a send's outcome is judged and what silence does to it.
type expectHow int

const (
	// byStep: the dispatcher's no_receipt step judges it at the deadline,
	// and it fails over at once if the channel goes silent before then.
	byStep expectHow = iota
	// byStepStay: judged by the step, but its policy does not fail over
	// on silent: it keeps waiting.
	byStepStay
	// bySweep: no step comes at the deadline (the policy does not fail
	// over on no_receipt): the sweep judges it.
	bySweep
	// asCanary: a canary, judged by the sweep; its receipts recover the
	// channel.
	asCanary
)

type expectation struct {
	sentAt, deadline time.Time
	canary           bool
	// selfJudged: no dispatcher step comes at the deadline (a canary, or a
	// policy that does not fail over on no_receipt); sweep judges it.
	selfJudged bool
	// leaves: fails over at once when the channel goes silent.
	leaves bool
	// judged: counted already (or abandoned); kept until forgetAt so a late
	// receipt still gives its latency.
	judged   bool
	forgetAt time.Time
}

type rhBucket struct {
	slot      int64 // which width-long slot of time this bucket holds
	judged    int   // sends whose outcome is known
	confirmed int   // of which a delivered receipt came in time
	receipts  int   // delivered receipts with a known latency
	late      int   // of which after the deadline
	hist      [len(latencyBounds) + 1]uint32
}

// NewReceiptHealth returns the receipt breaker of a channel; zero settings
// take their defaults.
func NewReceiptHealth(name string, kind channels.Kind, cfg config.ReceiptHealth, log *slog.Logger) *ReceiptHealth {
	if cfg.Window <= 0 {
		cfg.Window = config.Duration(config.DefaultReceiptWindow)
	}
	if cfg.MinSends <= 0 {
		cfg.MinSends = config.DefaultReceiptMinSends
	}
	if cfg.MinConfirmedRatio <= 0 {
		cfg.MinConfirmedRatio = config.DefaultReceiptMinConfirmed
	}
	if cfg.CanaryRatio <= 0 {
		cfg.CanaryRatio = config.DefaultReceiptCanaryRatio
	}
	if cfg.RecoverAfter <= 0 {
		cfg.RecoverAfter = config.DefaultReceiptRecoverAfter
	}
	if log == nil {
		log = slog.Default()
	}
	return &ReceiptHealth{
		name: name, kind: kind, cfg: cfg, log: log,
		width:   max(cfg.Window.D()/windowBuckets, time.Millisecond),
		tracked: map[expKey]*expectation{},
	}
}

// Settings are the effective settings (defaults filled in).
func (h *ReceiptHealth) Settings() config.ReceiptHealth { return h.cfg }

// Silent reports whether the channel is silent now.
func (h *ReceiptHealth) Silent() bool { return h != nil && h.silent.Load() }

// SilentDetail is the attempt detail for a skip because the channel is silent.
func (h *ReceiptHealth) SilentDetail() string {
	return kindWords(h.kind) + " is accepting messages but not delivering them"
}

func kindWords(k channels.Kind) string {
	switch k {
	case channels.WhatsApp:
		return "WhatsApp"
	case channels.SMS:
		return "SMS"
	case channels.Email:
		return "Email"
	case channels.Telegram:
		return "Telegram"
	}
	return "The channel"
}

// expect registers a send the provider accepted that should get a delivered
// receipt by deadline.
func (h *ReceiptHealth) expect(id string, seq int, sentAt, deadline time.Time, how expectHow) {
	if h == nil || h.cfg.Disabled {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastTimeout = deadline.Sub(sentAt)
	if len(h.tracked) >= maxTracked {
		return
	}
	h.tracked[expKey{id, seq}] = &expectation{
		sentAt: sentAt, deadline: deadline, canary: how == asCanary,
		selfJudged: how == bySweep || how == asCanary, leaves: how == byStep,
		forgetAt: deadline.Add(h.cfg.Window.D()),
	}
}

// canaryTimeout is the deadline for a canary whose policy has none for the
// channel: the last deadline a send on the channel had.
func (h *ReceiptHealth) canaryTimeout() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastTimeout
}

// receipt applies a receipt for attempt (id, seq) at time at. It reports
// whether the channel went silent (waiting messages are to fail over).
func (h *ReceiptHealth) receipt(id string, seq int, status store.AttemptStatus, at time.Time) (wentSilent bool) {
	if h == nil || h.cfg.Disabled || status == store.AttemptSent {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k := expKey{id, seq}
	e := h.tracked[k]
	if e == nil {
		return false // not ours, or forgotten
	}
	if status == store.AttemptUndelivered {
		// A loud failure, for the undelivered trigger: it says nothing
		// about silence either way.
		if !e.judged {
			delete(h.tracked, k)
		}
		return false
	}
	// Delivered or read: either proves delivery. Only the first counts.
	delete(h.tracked, k)
	latency := max(at.Sub(e.sentAt), 0)
	inTime := !at.After(e.deadline)
	b := h.bucket(at)
	if b != nil {
		b.receipts++
		b.hist[latencyBucket(latency)]++
		if !inTime {
			b.late++
		}
	}
	if !e.judged {
		if b != nil {
			b.judged++
			if inTime {
				b.confirmed++
			}
		}
	}
	if e.canary && !e.judged {
		if inTime {
			h.canaryRun++
			if e.sentAt.After(h.runFrom) {
				h.runFrom = e.sentAt
			}
			if h.silent.Load() && h.canaryRun >= h.cfg.RecoverAfter {
				h.recover(at)
				return false
			}
		} else {
			h.breakRun(e)
		}
	}
	return h.evaluate(at)
}

// miss judges attempt (id, seq) unconfirmed: its deadline passed with no
// delivered receipt (the dispatcher's no_receipt trigger).
func (h *ReceiptHealth) miss(id string, seq int, now time.Time) (wentSilent bool) {
	if h == nil || h.cfg.Disabled {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.tracked[expKey{id, seq}]
	if e == nil || e.judged {
		return false
	}
	h.judgeMissed(e, now)
	return h.evaluate(now)
}

// abandon forgets attempt (id, seq) without judging it: the message left
// the channel before its deadline (it went silent, or an undelivered
// report came). A delivered receipt that still comes gives its latency.
func (h *ReceiptHealth) abandon(id string, seq int) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.tracked[expKey{id, seq}]; e != nil {
		e.judged = true
	}
}

// canaryFailed: a canary send failed outright; the run of confirmed ones is
// broken.
func (h *ReceiptHealth) canaryFailed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.canaryRun, h.runFrom = 0, time.Time{}
}

func (h *ReceiptHealth) judgeMissed(e *expectation, now time.Time) {
	e.judged = true
	if b := h.bucket(now); b != nil {
		b.judged++
	}
	if e.canary {
		h.breakRun(e)
	}
}

// breakRun ends the run of confirmed canaries, unless the failed canary was
// sent before the run's newest one: its failure predates what the run shows.
func (h *ReceiptHealth) breakRun(e *expectation) {
	if !h.runFrom.IsZero() && e.sentAt.Before(h.runFrom) {
		return
	}
	h.canaryRun, h.runFrom = 0, time.Time{}
}

// takeCanary says whether a message that skips the silent channel also
// goes through it as a canary: always for a canary_to address, else for a
// canary_ratio share of them (deterministically: every 1/ratio-th).
func (h *ReceiptHealth) takeCanary(addr string) bool {
	if h == nil || !h.silent.Load() {
		return false
	}
	if addr != "" && slices.Contains(h.cfg.CanaryTo, addr) {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.eligible++
	r := min(h.cfg.CanaryRatio, 1)
	return math.Floor(float64(h.eligible)*r) > math.Floor(float64(h.eligible-1)*r)
}

// poll sweeps the expectations at most once per sweepEvery: deadlines
// passed for self-judged ones, old entries forgotten. It reports whether
// the channel went silent.
func (h *ReceiptHealth) poll(now time.Time) (wentSilent bool) {
	if h == nil || h.cfg.Disabled {
		return false
	}
	next := h.nextSweep.Load()
	if now.UnixNano() < next || !h.nextSweep.CompareAndSwap(next, now.Add(sweepEvery).UnixNano()) {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	missed := false
	for k, e := range h.tracked {
		switch {
		case now.After(e.forgetAt):
			delete(h.tracked, k)
		case !e.judged && e.selfJudged && now.After(e.deadline):
			h.judgeMissed(e, e.deadline)
			missed = true
		}
	}
	return missed && h.evaluate(now)
}

// evaluate enters silent when the window says so; called with mu held.
func (h *ReceiptHealth) evaluate(now time.Time) bool {
	if h.silent.Load() {
		return false
	}
	w := h.sum(now)
	silent := w.judged >= h.cfg.MinSends && float64(w.confirmed) < h.cfg.MinConfirmedRatio*float64(w.judged)
	if !silent && w.receipts >= h.cfg.MinSends && float64(w.late) > lateShare*float64(w.receipts) {
		silent = true
	}
	if !silent {
		return false
	}
	h.silent.Store(true)
	h.silentSince, h.canaryRun, h.eligible, h.runFrom = now, 0, 0, time.Time{}
	// Messages waiting on the channel leave it now rather than each
	// waiting out its deadline.
	for k, e := range h.tracked {
		if !e.judged && e.leaves && now.Before(e.deadline) {
			e.judged = true
			h.flush = append(h.flush, store.AttemptRef{MessageID: k.id, Seq: k.seq, Channel: h.name})
		}
	}
	if len(h.flush) > 0 {
		h.flushing.Store(true)
	}
	h.log.Warn("channel is silent: accepting messages but not delivering them",
		"channel", h.name, "judged", w.judged, "confirmed", w.confirmed, "receipts", w.receipts,
		"late", w.late, "window", h.cfg.Window.D(), "waiting_to_fail_over", len(h.flush))
	return true
}

// recover returns the channel to healthy with a fresh window; mu held.
func (h *ReceiptHealth) recover(now time.Time) {
	h.silent.Store(false)
	h.log.Warn("silent channel recovered: canaries were delivered",
		"channel", h.name, "canaries", h.canaryRun, "silent_for", now.Sub(h.silentSince))
	h.silentSince, h.recoveredAt, h.canaryRun, h.runFrom = time.Time{}, now, 0, time.Time{}
	h.buckets = [windowBuckets]rhBucket{}
}

// takeFlush returns the messages that were waiting on the channel when it
// went silent, once.
func (h *ReceiptHealth) takeFlush() []store.AttemptRef {
	if h == nil || !h.flushing.Load() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.flush
	h.flush = nil
	h.flushing.Store(false)
	return out
}

// bucket returns the bucket for time at, or nil when at is older than the
// window; mu held.
func (h *ReceiptHealth) bucket(at time.Time) *rhBucket {
	slot := at.UnixNano() / int64(h.width)
	b := &h.buckets[int(slot%windowBuckets)]
	switch {
	case b.slot == slot:
	case b.slot > slot:
		return nil
	default:
		*b = rhBucket{slot: slot}
	}
	return b
}

// sum adds up the buckets inside the window ending at now; mu held.
func (h *ReceiptHealth) sum(now time.Time) rhBucket {
	slot := now.UnixNano() / int64(h.width)
	var w rhBucket
	for i := range h.buckets {
		b := &h.buckets[i]
		if b.slot <= slot-windowBuckets || b.slot > slot {
			continue
		}
		w.judged += b.judged
		w.confirmed += b.confirmed
		w.receipts += b.receipts
		w.late += b.late
		for j, n := range b.hist {
			w.hist[j] += n
		}
	}
	return w
}

func latencyBucket(d time.Duration) int {
	for i, b := range latencyBounds {
		if d <= b {
			return i
		}
	}
	return len(latencyBounds)
}

// quantile estimates the q-quantile from a histogram, interpolating
// linearly inside the bucket it falls in.
func quantile(hist []uint32, q float64) time.Duration {
	var total uint64
	for _, n := range hist {
		total += uint64(n)
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, n := range hist {
		if n == 0 {
			continue
		}
		if seen+float64(n) >= rank {
			lo := time.Duration(0)
			if i > 0 {
				lo = latencyBounds[i-1]
			}
			if i == len(latencyBounds) {
				return lo // slower than the last bound: say at least that
			}
			hi := latencyBounds[i]
			frac := (rank - seen) / float64(n)
			return lo + time.Duration(frac*float64(hi-lo))
		}
		seen += float64(n)
	}
	return latencyBounds[len(latencyBounds)-1]
}

// ReceiptStats is a channel's receipt breaker at a moment: GET
// /v1/channels and the metrics show it.
type ReceiptStats struct {
	Window    time.Duration // the sliding window
	Sends     int           // sends judged in the window
	Confirmed int           // of which confirmed by a delivered receipt in time
	Receipts  int           // delivered receipts in the window
	Late      int           // of which after their deadline
	P90       time.Duration // receipt latency p90; 0 when no receipts
	Pending   int           // sends waiting for their receipt
	Silent    bool
	// SilentSince is when the channel went silent (zero when it is not).
	SilentSince time.Time
	// RecoveredAt is when it last came back from silent (zero: never).
	RecoveredAt  time.Time
	CanaryRun    int // canaries confirmed in a row while silent
	RecoverAfter int
}

// Ratio is Confirmed/Sends, and false when nothing was judged.
func (s ReceiptStats) Ratio() (float64, bool) {
	if s.Sends == 0 {
		return 0, false
	}
	return float64(s.Confirmed) / float64(s.Sends), true
}

// Stats reports the window ending at now.
func (h *ReceiptHealth) Stats(now time.Time) ReceiptStats {
	h.poll(now)
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.sum(now)
	s := ReceiptStats{
		Window: h.cfg.Window.D(), Sends: w.judged, Confirmed: w.confirmed, Receipts: w.receipts, Late: w.late,
		P90: quantile(w.hist[:], 0.9), Silent: h.silent.Load(), SilentSince: h.silentSince,
		RecoveredAt: h.recoveredAt, CanaryRun: h.canaryRun, RecoverAfter: h.cfg.RecoverAfter,
	}
	for _, e := range h.tracked {
		if !e.judged {
			s.Pending++
		}
	}
	return s
}

// String is for logs and test failures.
func (s ReceiptStats) String() string {
	return fmt.Sprintf("sends=%d confirmed=%d receipts=%d late=%d p90=%s pending=%d silent=%v",
		s.Sends, s.Confirmed, s.Receipts, s.Late, s.P90, s.Pending, s.Silent)
}
