package drill

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// Report is what a drill found. Times are seconds from the start of the
// traffic (offsets) or seconds (durations); latencies are milliseconds.
type Report struct {
	Scenario    string    `json:"scenario"`
	Description string    `json:"description,omitempty"`
	File        string    `json:"file"`
	Started     time.Time `json:"started"`
	WallS       float64   `json:"wall_s"`
	Rate        float64   `json:"rate"`
	DurationS   float64   `json:"duration_s"`
	Primary     string    `json:"primary"`

	Posted    int `json:"posted"`
	NotPosted int `json:"not_posted"` // ticks dropped: the generator was at its concurrency cap
	Accepted  int `json:"accepted"`
	Refused   int `json:"refused"` // posts without a 202

	Delivered       int            `json:"delivered"`
	DeliveredBy     map[string]int `json:"delivered_by"`
	Fallback        int            `json:"fallback"` // delivered on a channel other than the route's first
	Failed          int            `json:"failed"`
	Expired         int            `json:"expired"`
	SentUnconfirmed int            `json:"sent_unconfirmed"` // accepted by a provider, no receipt before the TTL
	Lost            int            `json:"lost"`             // accepted (202) and not in the store
	Unfinished      int            `json:"unfinished"`       // in the store, not final when the drain ended
	Duplicates      int            `json:"duplicates"`       // delivered by more than one attempt
	// ProviderAcceptedTwice: messages a sim accepted more than once (a
	// blackholed copy included: the customer got at most one of those).
	ProviderAcceptedTwice int `json:"provider_accepted_twice"`
	// UnrecordedSends: provider accepts with no attempt recorded for them.
	UnrecordedSends   int            `json:"unrecorded_sends"`
	AmbiguousAttempts int            `json:"ambiguous_attempts"`
	FailedReasons     map[string]int `json:"failed_reasons,omitempty"`
	ExpiredReasons    map[string]int `json:"expired_reasons,omitempty"`

	Latency struct {
		Before Latency `json:"before"`
		During Latency `json:"during"`
		After  Latency `json:"after"`
	} `json:"latency"` // POST to delivered receipt, by when the message was posted

	// Outage is [first non-up event on the primary, the event that put it
	// up for good) (to the end of the drill if it never came back).
	Outage *Window `json:"outage,omitempty"`
	// Recovery is from the primary's recovery to the end of the drill.
	Recovery *Window `json:"recovery,omitempty"`
	// Silent is the primary's silent outage, seen by its receipt breaker:
	// present when the primary went silent or a silent target asks.
	Silent *SilentReport `json:"silent,omitempty"`
	Phases []*Phase      `json:"phases"`

	// Read is read-based failover on the primary (read.go): present when
	// a message was read on it or moved on with no_read.
	Read *ReadReport `json:"read,omitempty"`

	Events   []EventReport           `json:"events"`
	Channels map[string][]Transition `json:"channels"` // breaker, health and sim mode over time

	Checks []Check `json:"checks"`
	Pass   bool    `json:"pass"`
}

// Latency summarises delivery latencies in milliseconds.
type Latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// Window is what happened in [From, To): messages posted in it, and
// attempts on the primary started in it. The *After fields are seconds
// from From, nil when it did not happen.
type Window struct {
	From float64 `json:"from_s"`
	To   float64 `json:"to_s"`

	Posted      int            `json:"posted"` // accepted, posted in the window
	Delivered   int            `json:"delivered"`
	DeliveredBy map[string]int `json:"delivered_by"`
	Fallback    int            `json:"fallback"`
	Failed      int            `json:"failed"`
	Expired     int            `json:"expired"`
	Latency     Latency        `json:"latency"`

	// FailedCalls: provider calls on the primary that failed;
	// FailedCallMessages: the messages that paid them.
	FailedCalls        int `json:"failed_calls"`
	FailedCallMessages int `json:"failed_call_messages"`
	// ReceiptWaits: messages that waited out a receipt deadline on the
	// primary (the silent-outage cost).
	ReceiptWaits int `json:"receipt_waits"`
	// Skips: attempts on the primary skipped without a call, by reason
	// (breaker_open, unhealthy, ...).
	Skips map[string]int `json:"skips"`

	BreakerOpenAfter *float64 `json:"breaker_open_after_s,omitempty"`
	FallbackAfter    *float64 `json:"fallback_after_s,omitempty"`    // first delivery on another channel
	MovedAfter       *float64 `json:"moved_after_s,omitempty"`       // breaker open -> first fallback delivery of a message posted after it
	ReturnAfter      *float64 `json:"return_after_s,omitempty"`      // first send the primary accepted
	HealthDownAfter  *float64 `json:"health_down_after_s,omitempty"` // the primary's health state left healthy/degraded
}

// SilentReport is a silent outage of the primary (a blackhole: sends
// accepted, no receipt) from its start to traffic back on the primary.
// Offsets (*At) are seconds from the start of the traffic; *After are
// seconds from the event they name.
type SilentReport struct {
	OutageAt float64 `json:"outage_at_s"` // the first non-up event on the primary
	// SilentAt is the receipt breaker's silent_since (GET /v1/channels);
	// DetectedAfter is OutageAt to it.
	SilentAt      *float64 `json:"silent_at_s,omitempty"`
	DetectedAfter *float64 `json:"detected_after_s,omitempty"`
	// ReceiptWaits: messages that waited out a receipt deadline on the
	// primary during the outage (the outage window's receipt_waits).
	ReceiptWaits int `json:"receipt_waits"`
	// Flushed: messages that were waiting on the primary when it went
	// silent and failed over at once (reason silent, not no_receipt).
	Flushed int `json:"flushed"`
	// Messages posted while silent (SilentAt to HealthyAt, or the end of
	// the traffic): how many, how many were delivered on another channel
	// within FastWithin of their POST, and the latency of those delivered.
	SilentPosted      int      `json:"silent_posted"`
	FastFallback      int      `json:"fast_fallback"`
	FastFallbackRatio *float64 `json:"fast_fallback_ratio,omitempty"`
	FastWithinS       float64  `json:"fast_within_s"`
	SilentLatency     Latency  `json:"silent_latency"`
	// Canaries: canary attempts on the primary, and how many of them a
	// delivered receipt confirmed.
	Canaries          int `json:"canaries"`
	CanariesDelivered int `json:"canaries_delivered"`
	// UpAt: the event that put the primary up for good. HealthyAt: its
	// receipt breaker left silent (canaries confirmed); HealthyAfter is
	// UpAt to it. ReturnAfter: UpAt to the first message (not a canary)
	// the primary delivered: traffic is back.
	UpAt         *float64 `json:"up_at_s,omitempty"`
	HealthyAt    *float64 `json:"healthy_at_s,omitempty"`
	HealthyAfter *float64 `json:"healthy_after_s,omitempty"`
	ReturnAfter  *float64 `json:"return_after_s,omitempty"`
}

// Phase is the stretch between two timeline events.
type Phase struct {
	Label string `json:"label"`
	Window
}

// EventReport is one timeline event as applied.
type EventReport struct {
	At    float64 `json:"at_s"`
	What  string  `json:"what"`
	Error string  `json:"error,omitempty"`
}

// Transition is a channel's state from At on.
type Transition struct {
	At      float64 `json:"at_s"`
	Breaker string  `json:"breaker"`
	State   string  `json:"state"`
	Mode    string  `json:"sim_mode"`
	Silent  bool    `json:"silent,omitempty"` // the receipt breaker: accepting, not delivering
}

// Check is one target and how the drill did against it.
type Check struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	OK   bool   `json:"ok"`
}

// msg is one accepted message with what the store and the sims say.
type msg struct {
	p     *post
	m     *store.Message
	sends map[string]int
}

func (x *msg) delivered() bool {
	return x.m != nil && (x.m.Status == store.StatusDelivered || x.m.Status == store.StatusRead)
}

// deliveredAt is when the delivering attempt's receipt came.
func (x *msg) deliveredAt() time.Time {
	var t time.Time
	for _, a := range x.m.History {
		if (a.Status == store.AttemptDelivered || a.Status == store.AttemptRead) && !a.DeliveredAt.IsZero() {
			if t.IsZero() || a.DeliveredAt.Before(t) {
				t = a.DeliveredAt
			}
		}
	}
	return t
}

func (x *msg) fallback() bool {
	return x.delivered() && len(x.m.Route) > 0 && x.m.Channel != x.m.Route[0]
}

func analyze(r *run) *Report {
	sc := r.sc
	rep := &Report{
		Scenario: sc.Name, Description: strings.TrimSpace(sc.Description), File: sc.Path,
		Started: r.t0.UTC(), WallS: round(r.wall.Seconds()), Rate: sc.Traffic.Rate, DurationS: sc.Duration.D().Seconds(),
		Primary: sc.Primary, DeliveredBy: map[string]int{}, FailedReasons: map[string]int{}, ExpiredReasons: map[string]int{},
		Posted: len(r.posts), NotPosted: r.notPosted, Channels: map[string][]Transition{},
	}
	off := func(t time.Time) float64 { return round(t.Sub(r.t0).Seconds()) }

	var msgs []*msg
	for _, p := range r.posts {
		if p.id == "" {
			rep.Refused++
			continue
		}
		rep.Accepted++
		x := &msg{p: p, m: r.msgs[p.id], sends: r.sends[p.id]}
		if x.m == nil {
			if errors.Is(r.getErrs[p.id], store.ErrNotFound) || r.getErrs[p.id] == nil {
				rep.Lost++
			} else {
				rep.Unfinished++ // unreadable: count it against the run
			}
			continue
		}
		msgs = append(msgs, x)
		m := x.m
		switch {
		case x.delivered():
			rep.Delivered++
			rep.DeliveredBy[m.Channel]++
			if x.fallback() {
				rep.Fallback++
			}
		case m.Status == store.StatusFailed:
			rep.Failed++
			rep.FailedReasons[reasonKey(m.LastError)]++
		case m.Status == store.StatusExpired:
			rep.Expired++
			rep.ExpiredReasons[reasonKey(m.LastError)]++
		case settled(m, r.finished):
			rep.SentUnconfirmed++
		default:
			rep.Unfinished++
		}
		deliveredAttempts, accepts, total := 0, 0, 0
		for _, a := range m.History {
			if (a.Status == store.AttemptDelivered || a.Status == store.AttemptRead) && !unreadMove(a) {
				deliveredAttempts++
			}
			if a.ProviderID != "" {
				accepts++
			}
			if a.Ambiguous {
				rep.AmbiguousAttempts++
			}
		}
		for _, n := range x.sends {
			total += n
		}
		if deliveredAttempts > 1 {
			rep.Duplicates++
		}
		if total > 1 {
			rep.ProviderAcceptedTwice++
		}
		if total > accepts {
			rep.UnrecordedSends += total - accepts
		}
	}

	// Events, the outage window and the phases.
	var outStart, outEnd time.Time
	for _, e := range r.events {
		er := EventReport{At: off(e.applied), What: e.label()}
		if e.err != nil {
			er.Error = e.err.Error()
		}
		rep.Events = append(rep.Events, er)
		if e.Channel != "*" && e.Channel != sc.Primary {
			continue
		}
		if e.Mode != "up" {
			if outStart.IsZero() {
				outStart = e.applied
			}
			outEnd = time.Time{}
		} else if !outStart.IsZero() && outEnd.IsZero() {
			outEnd = e.applied
		}
	}
	a := &analysis{r: r, msgs: msgs, samples: r.samples[sc.Primary]}
	if !outStart.IsZero() {
		end := r.finished
		if !outEnd.IsZero() {
			end = outEnd
		}
		rep.Outage = a.window(outStart, end)
		if !outEnd.IsZero() {
			rep.Recovery = a.window(outEnd, r.finished)
		}
	}
	for i, e := range r.events {
		from := r.t0
		if i > 0 {
			from = r.events[i-1].applied
		}
		if i == 0 && e.applied.Sub(r.t0) > 50*time.Millisecond {
			rep.Phases = append(rep.Phases, &Phase{Label: "start", Window: *a.window(from, e.applied)})
		}
		to := r.finished
		if i+1 < len(r.events) {
			to = r.events[i+1].applied
		}
		rep.Phases = append(rep.Phases, &Phase{Label: e.label(), Window: *a.window(e.applied, to)})
	}
	if len(r.events) == 0 {
		rep.Phases = append(rep.Phases, &Phase{Label: "steady", Window: *a.window(r.t0, r.finished)})
	}

	// Latency before, during and after the outage, by post time.
	var before, during, after []time.Duration
	for _, x := range msgs {
		if !x.delivered() {
			continue
		}
		l := x.deliveredAt().Sub(x.p.at)
		switch {
		case outStart.IsZero() || x.p.at.Before(outStart):
			before = append(before, l)
		case outEnd.IsZero() || x.p.at.Before(outEnd):
			during = append(during, l)
		default:
			after = append(after, l)
		}
	}
	rep.Latency.Before, rep.Latency.During, rep.Latency.After = latency(before), latency(during), latency(after)

	rep.Silent = a.silent(outStart, outEnd)
	rep.Read = a.read()

	for _, name := range r.order {
		for _, s := range r.samples[name] {
			rep.Channels[name] = append(rep.Channels[name], Transition{At: off(s.at), Breaker: s.breaker, State: s.state, Mode: s.mode, Silent: s.silent})
		}
	}
	rep.check(sc, r)
	return rep
}

// analysis computes windows over one run.
type analysis struct {
	r       *run
	msgs    []*msg
	samples []sample // the primary's
}

func (a *analysis) window(from, to time.Time) *Window {
	t0, primary := a.r.t0, a.r.sc.Primary
	w := &Window{From: round(from.Sub(t0).Seconds()), To: round(to.Sub(t0).Seconds()), DeliveredBy: map[string]int{}, Skips: map[string]int{}}
	since := func(t time.Time) *float64 { v := round(max(t.Sub(from), 0).Seconds()); return &v }
	in := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }

	// The primary's breaker: open at the start of the window, or the
	// first time it opened in it; its health leaving healthy likewise.
	var opened, unhealthy time.Time
	for i, s := range a.samples {
		isOpen, isDown := s.breaker == "open", s.state != "healthy" && s.state != "degraded"
		startsBefore := !s.at.After(from) && (i+1 == len(a.samples) || a.samples[i+1].at.After(from))
		if opened.IsZero() && isOpen && (in(s.at) || startsBefore) {
			opened = maxTime(s.at, from)
		}
		if unhealthy.IsZero() && isDown && (in(s.at) || startsBefore) {
			unhealthy = maxTime(s.at, from)
		}
	}
	if !opened.IsZero() {
		w.BreakerOpenAfter = since(opened)
	}
	if !unhealthy.IsZero() {
		w.HealthDownAfter = since(unhealthy)
	}

	var lats []time.Duration
	var firstFallback, firstMoved, firstReturn time.Time
	for _, x := range a.msgs {
		if in(x.p.at) {
			w.Posted++
			switch {
			case x.delivered():
				w.Delivered++
				w.DeliveredBy[x.m.Channel]++
				if x.fallback() {
					w.Fallback++
				}
				lats = append(lats, x.deliveredAt().Sub(x.p.at))
			case x.m.Status == store.StatusFailed:
				w.Failed++
			case x.m.Status == store.StatusExpired:
				w.Expired++
			}
		}
		paid, waited := false, false
		for _, at := range x.m.History {
			if at.Channel == primary {
				if in(at.StartedAt) {
					switch {
					case at.Status == store.AttemptFailed:
						w.FailedCalls++
						paid = true
					case at.Status == store.AttemptSkipped:
						w.Skips[at.Reason.String()]++
					}
					if at.Reason == reason.NoReceipt {
						waited = true
					}
				}
				if at.ProviderID != "" && !at.StartedAt.Before(from) && (firstReturn.IsZero() || at.StartedAt.Before(firstReturn)) {
					firstReturn = at.StartedAt
				}
				continue
			}
			if at.Status != store.AttemptDelivered && at.Status != store.AttemptRead {
				continue
			}
			if d := at.DeliveredAt; in(d) {
				if firstFallback.IsZero() || d.Before(firstFallback) {
					firstFallback = d
				}
				if !opened.IsZero() && !x.p.at.Before(opened) && (firstMoved.IsZero() || d.Before(firstMoved)) {
					firstMoved = d
				}
			}
		}
		if paid {
			w.FailedCallMessages++
		}
		if waited {
			w.ReceiptWaits++
		}
	}
	w.Latency = latency(lats)
	if !firstFallback.IsZero() {
		w.FallbackAfter = since(firstFallback)
	}
	if !firstMoved.IsZero() {
		v := round(firstMoved.Sub(opened).Seconds())
		w.MovedAfter = &v
	}
	if !firstReturn.IsZero() {
		w.ReturnAfter = since(firstReturn)
	}
	return w
}

// isCanary: a canary attempt (a copy sent through a silent channel to see
// whether it delivers again).
func isCanary(at store.Attempt) bool { return at.Reason == reason.Canary || at.Info == "canary" }

func isDelivered(at store.Attempt) bool {
	return (at.Status == store.AttemptDelivered || at.Status == store.AttemptRead) && !at.DeliveredAt.IsZero()
}

// silent describes the primary's silent outage: nil when there was no
// outage, or the primary never went silent and no silent target asks.
func (a *analysis) silent(outStart, outEnd time.Time) *SilentReport {
	r, sc := a.r, a.r.sc
	t := sc.Targets
	if outStart.IsZero() && !t.silentTargets() {
		return nil
	}
	off := func(t time.Time) *float64 { v := round(t.Sub(r.t0).Seconds()); return &v }
	after := func(t, from time.Time) *float64 { v := round(t.Sub(from).Seconds()); return &v }
	// The first time the primary went silent in the outage, and when it
	// came back from it. The breaker's own times (silent_since,
	// recovered_at) when known, else when the sampler saw the change.
	var silentAt, healthyAt time.Time
	for _, s := range a.samples {
		if outStart.IsZero() || s.at.Before(outStart) {
			continue
		}
		at := s.since
		if at.IsZero() {
			at = s.at
		}
		if silentAt.IsZero() {
			if s.silent {
				silentAt = at
			}
			continue
		}
		if !s.silent {
			healthyAt = at
			break
		}
	}
	if silentAt.IsZero() && !t.silentTargets() {
		return nil
	}
	within := time.Second
	if t.FastFallbackWithin != nil {
		within = t.FastFallbackWithin.D()
	}
	sr := &SilentReport{FastWithinS: within.Seconds()}
	if !outStart.IsZero() {
		sr.OutageAt = *off(outStart)
		sr.ReceiptWaits = a.window(outStart, endOr(outEnd, r.finished)).ReceiptWaits
	}
	if !silentAt.IsZero() {
		sr.SilentAt, sr.DetectedAfter = off(silentAt), after(silentAt, maxTime(outStart, r.t0))
	}
	if !outEnd.IsZero() {
		sr.UpAt = off(outEnd)
	}
	if !healthyAt.IsZero() {
		sr.HealthyAt = off(healthyAt)
		if !outEnd.IsZero() {
			sr.HealthyAfter = after(healthyAt, outEnd)
		}
	}
	silentEnd := endOr(healthyAt, r.tEnd)
	var lats []time.Duration
	var firstReturn time.Time
	for _, x := range a.msgs {
		posted := !silentAt.IsZero() && !x.p.at.Before(silentAt) && x.p.at.Before(silentEnd)
		fast := false
		var fellBack time.Time
		for _, at := range x.m.History {
			if at.Channel != sc.Primary {
				if posted && isDelivered(at) && (fellBack.IsZero() || at.DeliveredAt.Before(fellBack)) {
					fellBack = at.DeliveredAt
				}
				continue
			}
			if isCanary(at) {
				sr.Canaries++
				if isDelivered(at) {
					sr.CanariesDelivered++
				}
				continue
			}
			if at.Reason == reason.Silent && at.ProviderID != "" && !silentAt.IsZero() && !at.StartedAt.After(silentAt) {
				sr.Flushed++
			}
			if !outEnd.IsZero() && isDelivered(at) && !at.StartedAt.Before(outEnd) && (firstReturn.IsZero() || at.DeliveredAt.Before(firstReturn)) {
				firstReturn = at.DeliveredAt
			}
		}
		if !posted {
			continue
		}
		sr.SilentPosted++
		if !fellBack.IsZero() {
			lats = append(lats, fellBack.Sub(x.p.at))
			fast = fellBack.Sub(x.p.at) <= within
		}
		if fast {
			sr.FastFallback++
		}
	}
	sr.SilentLatency = latency(lats)
	if sr.SilentPosted > 0 {
		v := math.Round(float64(sr.FastFallback)/float64(sr.SilentPosted)*10000) / 10000
		sr.FastFallbackRatio = &v
	}
	if !firstReturn.IsZero() {
		sr.ReturnAfter = after(firstReturn, outEnd)
	}
	return sr
}

func endOr(t, otherwise time.Time) time.Time {
	if t.IsZero() {
		return otherwise
	}
	return t
}

func (rep *Report) check(sc *Scenario, r *run) {
	add := func(name, want, got string, ok bool) {
		rep.Checks = append(rep.Checks, Check{Name: name, Want: want, Got: got, OK: ok})
	}
	atMost := func(name string, limit *int, got int) {
		if limit != nil {
			add(name, fmt.Sprintf("<= %d", *limit), fmt.Sprint(got), got <= *limit)
		}
	}
	atLeast := func(name string, limit *int, got int) {
		if limit != nil {
			add(name, fmt.Sprintf(">= %d", *limit), fmt.Sprint(got), got >= *limit)
		}
	}
	// Always checked.
	add("lost", "0", fmt.Sprint(rep.Lost), rep.Lost == 0)
	add("unfinished", "0", fmt.Sprint(rep.Unfinished), rep.Unfinished == 0)
	add("unrecorded_sends", "0", fmt.Sprint(rep.UnrecordedSends), rep.UnrecordedSends == 0)
	unexplained := rep.FailedReasons["(no last_error)"] + rep.ExpiredReasons["(no last_error)"]
	add("failed_or_expired_without_reason", "0", fmt.Sprint(unexplained), unexplained == 0)
	if rep.Accepted == 0 {
		add("accepted", "> 0", "0", false)
	}
	var evErrs []string
	for _, e := range rep.Events {
		if e.Error != "" {
			evErrs = append(evErrs, e.What+": "+e.Error)
		}
	}
	if len(r.events) != len(sc.Timeline) || len(evErrs) > 0 {
		add("timeline", fmt.Sprintf("%d events applied", len(sc.Timeline)), fmt.Sprintf("%d applied %s", len(r.events), strings.Join(evErrs, "; ")), false)
	}

	t := sc.Targets
	atMost("max_failed", t.MaxFailed, rep.Failed)
	atMost("max_expired", t.MaxExpired, rep.Expired)
	atMost("max_duplicates", t.MaxDuplicates, rep.Duplicates)
	atMost("max_refused", t.MaxRefused, rep.Refused+rep.NotPosted)
	atLeast("min_fallback", t.MinFallback, rep.Fallback)
	o := rep.Outage
	if o == nil {
		o = &Window{}
	}
	var ret *float64
	if rep.Recovery != nil {
		ret = rep.Recovery.ReturnAfter
	}
	rep.checkWindow("", sc.Primary, &t, o, ret)
	rep.checkSilent(sc.Primary, &t)
	rep.checkRead(&t)
	for i, e := range r.events {
		if e.Targets == nil {
			continue
		}
		for _, ph := range rep.Phases {
			if ph.Label == e.label() && ph.From == round(e.applied.Sub(r.t0).Seconds()) {
				rep.checkWindow(fmt.Sprintf("timeline[%d] %s: ", i, e.label()), sc.Primary, e.Targets, &ph.Window, ph.ReturnAfter)
			}
		}
	}
	rep.Pass = true
	for _, c := range rep.Checks {
		rep.Pass = rep.Pass && c.OK
	}
}

// checkWindow checks the window-level targets on w: the outage for the
// scenario's targets, a phase for an event's.
func (rep *Report) checkWindow(prefix, primary string, t *Targets, w *Window, ret *float64) {
	add := func(name, want, got string, ok bool) {
		rep.Checks = append(rep.Checks, Check{Name: prefix + name, Want: want, Got: got, OK: ok})
	}
	atMost := func(name string, limit *int, got int) {
		if limit != nil {
			add(name, fmt.Sprintf("<= %d", *limit), fmt.Sprint(got), got <= *limit)
		}
	}
	within := func(name string, limit *Duration, got *float64) {
		if limit == nil {
			return
		}
		if got == nil {
			add(name, "<= "+limit.String(), "never", false)
			return
		}
		add(name, "<= "+limit.String(), fmt.Sprintf("%.3fs", *got), *got <= limit.D().Seconds())
	}
	atMost("max_failed_calls (messages paying a failed call on "+primary+")", t.MaxFailedCalls, w.FailedCallMessages)
	atMost("max_receipt_waits (messages waiting out a receipt deadline on "+primary+")", t.MaxReceiptWaits, w.ReceiptWaits)
	within("breaker_open_within (start -> "+primary+" breaker open)", t.BreakerOpenWithin, w.BreakerOpenAfter)
	within("fallback_within (start -> first fallback delivery)", t.FallbackWithin, w.FallbackAfter)
	within("moved_within (breaker open -> first fallback delivery of a message posted after it)", t.MovedWithin, w.MovedAfter)
	within("return_within (recovery -> first send "+primary+" accepts)", t.ReturnWithin, ret)
	if t.MaxP99During != nil {
		got := w.Latency.P99 / 1000
		add("max_p99_during", "<= "+t.MaxP99During.String(), fmt.Sprintf("%.3fs (n=%d)", got, w.Latency.N), w.Latency.N > 0 && got <= t.MaxP99During.D().Seconds())
	}
}

// checkSilent checks the silent-outage targets against rep.Silent.
func (rep *Report) checkSilent(primary string, t *Targets) {
	add := func(name, want, got string, ok bool) {
		rep.Checks = append(rep.Checks, Check{Name: name, Want: want, Got: got, OK: ok})
	}
	s := rep.Silent
	if s == nil {
		s = &SilentReport{}
	}
	within := func(name string, limit *Duration, got *float64) {
		if limit == nil {
			return
		}
		if got == nil {
			add(name, "<= "+limit.String(), "never", false)
			return
		}
		add(name, "<= "+limit.String(), fmt.Sprintf("%.3fs", *got), *got <= limit.D().Seconds())
	}
	within("detected_within (outage start -> "+primary+" silent)", t.DetectedWithin, s.DetectedAfter)
	if r := t.MinFastFallbackRatio; r != nil {
		name := fmt.Sprintf("min_fast_fallback_ratio (posted while %s silent, delivered on a fallback within %gs)", primary, s.FastWithinS)
		if s.FastFallbackRatio == nil {
			add(name, fmt.Sprintf(">= %g", *r), "no message posted while silent", false)
		} else {
			add(name, fmt.Sprintf(">= %g", *r), fmt.Sprintf("%.4f (%d of %d)", *s.FastFallbackRatio, s.FastFallback, s.SilentPosted), *s.FastFallbackRatio >= *r)
		}
	}
	within("recover_within ("+primary+" up -> first message it delivers, not a canary)", t.RecoverWithin, s.ReturnAfter)
}

// Missed lists the checks that failed.
func (rep *Report) Missed() []Check {
	var out []Check
	for _, c := range rep.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// Print writes the report for a person.
func (rep *Report) Print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("drill %s (%s): %.0f msg/s for %.0fs, primary %s, wall %.1fs", rep.Scenario, rep.File, rep.Rate, rep.DurationS, rep.Primary, rep.WallS)
	p("  messages: posted %d, accepted %d, refused %d, not posted %d", rep.Posted, rep.Accepted, rep.Refused, rep.NotPosted)
	p("  outcome:  delivered %d %s (fallback %d), failed %d, expired %d, sent-unconfirmed %d, lost %d, unfinished %d",
		rep.Delivered, counts(rep.DeliveredBy), rep.Fallback, rep.Failed, rep.Expired, rep.SentUnconfirmed, rep.Lost, rep.Unfinished)
	p("  copies:   duplicates %d, provider accepted twice %d, unrecorded sends %d, ambiguous attempts %d",
		rep.Duplicates, rep.ProviderAcceptedTwice, rep.UnrecordedSends, rep.AmbiguousAttempts)
	for r, n := range rep.FailedReasons {
		p("  failed %5d  %s", n, r)
	}
	for r, n := range rep.ExpiredReasons {
		p("  expired %4d  %s", n, r)
	}
	p("  latency (POST -> delivered): before %s | during %s | after %s", rep.Latency.Before, rep.Latency.During, rep.Latency.After)
	if o := rep.Outage; o != nil {
		p("  outage of %s [%.1fs, %.1fs): breaker open after %s, health down after %s, first fallback after %s, moved %s after open",
			rep.Primary, o.From, o.To, secs(o.BreakerOpenAfter), secs(o.HealthDownAfter), secs(o.FallbackAfter), secs(o.MovedAfter))
		p("    failed calls on %s: %d by %d messages; skipped %s; receipt waits %d", rep.Primary, o.FailedCalls, o.FailedCallMessages, counts(o.Skips), o.ReceiptWaits)
	}
	if rc := rep.Recovery; rc != nil {
		p("  recovery at %.1fs: %s accepts again after %s", rc.From, rep.Primary, secs(rc.ReturnAfter))
	}
	if s := rep.Silent; s != nil {
		ratio := "n/a"
		if s.FastFallbackRatio != nil {
			ratio = fmt.Sprintf("%.2f%%", *s.FastFallbackRatio*100)
		}
		p("  silent outage of %s from %.1fs: detected (silent_since %s) after %s; %d messages waited out the receipt deadline, %d waiting failed over at detection",
			rep.Primary, s.OutageAt, secs(s.SilentAt), secs(s.DetectedAfter), s.ReceiptWaits, s.Flushed)
		p("    posted while silent: %d, delivered on a fallback within %gs: %d (%s); their delivery %s; canaries %d (%d delivered)",
			s.SilentPosted, s.FastWithinS, s.FastFallback, ratio, s.SilentLatency, s.Canaries, s.CanariesDelivered)
		p("    recovery: %s up at %s, healthy again (silent cleared) after %s, first message delivered by %s after %s",
			rep.Primary, secs(s.UpAt), secs(s.HealthyAfter), rep.Primary, secs(s.ReturnAfter))
	}
	rep.printRead(p)
	p("  phases:")
	for _, ph := range rep.Phases {
		p("    [%5.1fs %5.1fs) %-34s posted %4d delivered %s failed %d expired %d | %s fail-calls %d (%d msgs) rcpt-waits %d | %s",
			ph.From, ph.To, ph.Label, ph.Posted, counts(ph.DeliveredBy), ph.Failed, ph.Expired, rep.Primary,
			ph.FailedCalls, ph.FailedCallMessages, ph.ReceiptWaits, ph.Latency)
	}
	p("  %s over time:", rep.Primary)
	for _, t := range rep.Channels[rep.Primary] {
		silent := ""
		if t.Silent {
			silent = " SILENT (receipts)"
		}
		p("    %6.2fs breaker %-9s state %-9s sim %s%s", t.At, t.Breaker, t.State, t.Mode, silent)
	}
	verdict := "PASS"
	if !rep.Pass {
		verdict = "FAIL"
	}
	p("  targets: %s", verdict)
	for _, c := range rep.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "MISS"
		}
		p("    %s %s: want %s, got %s", mark, c.Name, c.Want, c.Got)
	}
}

func (l Latency) String() string {
	if l.N == 0 {
		return "n=0"
	}
	return fmt.Sprintf("n=%d p50 %.0fms p99 %.0fms max %.0fms", l.N, l.P50, l.P99, l.Max)
}

func secs(v *float64) string {
	if v == nil {
		return "never"
	}
	return fmt.Sprintf("%.3fs", *v)
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func latency(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(ds)))) - 1
		return ms(ds[max(0, min(i, len(ds)-1))])
	}
	return Latency{N: len(ds), P50: q(0.50), P99: q(0.99), Max: ms(ds[len(ds)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }

func round(s float64) float64 { return math.Round(s*1000) / 1000 }

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// reasonKey groups last_error texts: message-specific parts are few (the
// sims' errors are fixed strings), so the text itself, cut short, is it.
func reasonKey(s string) string {
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	if s == "" {
		s = "(no last_error)"
	}
	return s
}
