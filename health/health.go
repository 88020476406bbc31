// Package health runs active probes against channels and combines their
// results with ops overrides into one state per channel, which the routing
// core reads for every message. Probes go down only after several failures
// in a row and come back only after several successes in a row, so a single
// lost probe neither takes a channel out nor lets a sick one flap back in.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-gw/switchboard/config"
)

// State is a channel's combined health.
type State string

const (
	// Healthy: the last probe passed (or none has run yet).
	Healthy State = "healthy"
	// Degraded: recent probes failed, but fewer than fail_after in a row.
	// The channel is still used; its breaker guards individual sends.
	Degraded State = "degraded"
	// Down: fail_after probes failed in a row; the channel is skipped until
	// recover_after probes pass in a row.
	Down State = "down"
	// Disabled: ops took the channel out; wins over every probe result.
	Disabled State = "disabled"
)

// ErrUnknownChannel is returned for a name that was never added.
var ErrUnknownChannel = errors.New("health: unknown channel")

// Prober is the part of a channel the monitor needs.
type Prober interface {
	Probe(ctx context.Context) error
}

// Defaults for zero fields of config.Probe; config loading applies the same
// ones, these only protect callers that build a config.Probe by hand.
const (
	DefaultInterval     = 10 * time.Second
	DefaultTimeout      = 5 * time.Second
	DefaultFailAfter    = 3
	DefaultRecoverAfter = 2
)

// Status is one channel's health as reported to the API and dashboard.
type Status struct {
	Name  string
	State State
	// ProbeState is what the probes alone say, so a disabled channel still
	// shows whether it would be usable if enabled.
	ProbeState           State
	Probing              bool // a probe loop runs (false when probes are disabled in config)
	LastProbeAt          time.Time
	LastProbeError       string
	LastProbeLatency     time.Duration
	ConsecutiveFailures  int
	ConsecutiveSuccesses int
	DisabledReason       string
	DisabledBy           string // the API key name that disabled it; "" when not known
	DisabledAt           time.Time
	ChangedAt            time.Time // when State last changed
}

func (s *Status) usable() (bool, string) {
	switch s.State {
	case Disabled:
		return false, "disabled by ops: " + s.DisabledReason
	case Down:
		if s.ConsecutiveSuccesses > 0 {
			return false, fmt.Sprintf("down, recovering: %d good probes in a row so far", s.ConsecutiveSuccesses)
		}
		return false, fmt.Sprintf("down: %d failed probes in a row: %s", s.ConsecutiveFailures, s.LastProbeError)
	case Degraded:
		return true, "last probe failed: " + s.LastProbeError
	}
	return true, ""
}

// Monitor owns the probe loops and the state of every added channel.
type Monitor struct {
	log *slog.Logger

	// view is an immutable copy of every entry's Status, replaced on each
	// change, so the per-message read path takes no lock.
	view atomic.Pointer[map[string]Status]

	mu      sync.Mutex
	entries map[string]*entry
	hooks   []func(name string, from, to State)
	probed  []func(name string, latency time.Duration, err error)
	closed  bool

	loops atomic.Int64 // running probe goroutines; lets tests prove Close leaks none
}

type entry struct {
	status  Status
	prober  Prober
	cfg     config.Probe
	run     *loop // nil when probes are disabled
	serial  uint64
	applied uint64 // serial of the newest probe applied, to drop stale results
}

type loop struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a monitor with no channels.
func New(logger *slog.Logger) *Monitor {
	if logger == nil {
		logger = slog.Default()
	}
	m := &Monitor{log: logger, entries: map[string]*entry{}}
	m.view.Store(&map[string]Status{})
	return m
}

// OnChange registers fn to be called after a channel's State changes. It is
// called without locks held, so it may call back into the monitor; calls
// for different changes may run concurrently.
func (m *Monitor) OnChange(fn func(name string, from, to State)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hooks = append(m.hooks, fn)
}

// OnProbe registers fn to be called after every probe result that was
// applied (for metrics), without locks held.
func (m *Monitor) OnProbe(fn func(name string, latency time.Duration, err error)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.probed = append(m.probed, fn)
}

// Add starts monitoring a channel; its first probe runs at once. Adding a
// name again (a config reload replaced the channel) swaps the prober and
// settings and restarts the loop, but keeps the state, counters and any ops
// override: a reload must not bring a down or disabled channel back.
func (m *Monitor) Add(name string, p Prober, cfg config.Probe) {
	cfg = withDefaults(cfg)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.log.Warn("health monitor closed; channel not added", "channel", name)
		return
	}
	e, ok := m.entries[name]
	if !ok {
		e = &entry{status: Status{Name: name, State: Healthy, ProbeState: Healthy, ChangedAt: time.Now()}}
		m.entries[name] = e
	}
	old := e.run
	e.prober, e.cfg, e.run = p, cfg, nil
	// A nil prober (a channel type with nothing cheap to check) gets no
	// loop; its state then follows overrides only, as with probe.disabled.
	if !cfg.Disabled && p != nil {
		e.run = m.startLocked(name, e)
	}
	e.status.Probing = e.run != nil
	m.publishLocked()
	m.mu.Unlock()
	old.stop()
}

// Remove stops probing a channel and forgets it; it waits for the loop.
func (m *Monitor) Remove(name string) {
	m.mu.Lock()
	e, ok := m.entries[name]
	if ok {
		delete(m.entries, name)
		m.publishLocked()
	}
	m.mu.Unlock()
	if ok {
		e.run.stop()
	}
}

// Close stops every probe loop and waits for them. Later Adds are ignored.
func (m *Monitor) Close() {
	m.mu.Lock()
	m.closed = true
	var runs []*loop
	for _, e := range m.entries {
		runs = append(runs, e.run)
		e.run = nil
		e.status.Probing = false
	}
	m.publishLocked()
	m.mu.Unlock()
	// Cancel all first so the loops wind down in parallel.
	for _, r := range runs {
		if r != nil {
			r.cancel()
		}
	}
	for _, r := range runs {
		r.stop()
	}
}

// Disable takes a channel out of every route until Enable, whatever its
// probes say. Disabling again updates the reason.
func (m *Monitor) Disable(name, reason string) error {
	return m.DisableBy(name, reason, "", time.Time{})
}

// DisableBy is Disable that also records who disabled the channel (an API
// key name) and when (zero: now), as shown by GET /v1/channels. A stored
// override re-applied at start or from another instance keeps its own.
func (m *Monitor) DisableBy(name, reason, by string, at time.Time) error {
	if at.IsZero() {
		at = time.Now()
	}
	m.mu.Lock()
	e, ok := m.entries[name]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("disable %q: %w", name, ErrUnknownChannel)
	}
	e.status.DisabledReason = reason
	e.status.DisabledBy = by
	e.status.DisabledAt = at
	from := e.status.State
	m.setStateLocked(e, Disabled)
	hooks := m.publishLocked()
	m.mu.Unlock()
	m.log.Info("channel disabled by ops", "channel", name, "reason", reason)
	m.notify(hooks, name, from, Disabled)
	return nil
}

// Enable lifts an ops override; the channel's state goes back to what its
// probes say. Enabling a channel that is not disabled does nothing.
func (m *Monitor) Enable(name string) error {
	m.mu.Lock()
	e, ok := m.entries[name]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("enable %q: %w", name, ErrUnknownChannel)
	}
	from := e.status.State
	e.status.DisabledReason = ""
	e.status.DisabledBy = ""
	e.status.DisabledAt = time.Time{}
	m.setStateLocked(e, e.status.ProbeState)
	hooks := m.publishLocked()
	to := e.status.State
	m.mu.Unlock()
	if from == Disabled {
		m.log.Info("channel enabled by ops", "channel", name, "state", string(to))
	}
	m.notify(hooks, name, from, to)
	return nil
}

// Usable is the routing core's per-message check. A channel the monitor does
// not know is usable: health can only take channels out, never gate them in.
func (m *Monitor) Usable(name string) (ok bool, state State, reason string) {
	s, found := (*m.view.Load())[name]
	if !found {
		return true, Healthy, ""
	}
	ok, reason = s.usable()
	return ok, s.State, reason
}

// Status returns one channel's status.
func (m *Monitor) Status(name string) (Status, bool) {
	s, ok := (*m.view.Load())[name]
	return s, ok
}

// Snapshot returns every channel's status, sorted by name.
func (m *Monitor) Snapshot() []Status {
	v := *m.view.Load()
	out := make([]Status, 0, len(v))
	for _, s := range v {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ProbeNow runs one probe for name at once, bounded by its timeout, applies
// the result and returns the probe's error. Ops use it to re-check a channel
// without waiting for the interval; tests use it to drive transitions
// without sleeping. It works even when the probe loop is disabled in config.
func (m *Monitor) ProbeNow(ctx context.Context, name string) error {
	m.mu.Lock()
	e, ok := m.entries[name]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("probe %q: %w", name, ErrUnknownChannel)
	}
	m.mu.Unlock()
	return m.probe(ctx, name, e)
}

func (m *Monitor) startLocked(name string, e *entry) *loop {
	ctx, cancel := context.WithCancel(context.Background())
	l := &loop{cancel: cancel, done: make(chan struct{})}
	interval := e.cfg.Interval.D()
	m.loops.Add(1)
	go func() {
		defer close(l.done)
		defer m.loops.Add(-1)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			_ = m.probe(ctx, name, e)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return l
}

// stop cancels the loop and waits for it; a nil loop is a no-op.
func (l *loop) stop() {
	if l == nil {
		return
	}
	l.cancel()
	<-l.done
}

// probe runs one probe and applies it to e, unless e was removed meanwhile
// or a newer probe of e already finished.
func (m *Monitor) probe(ctx context.Context, name string, e *entry) error {
	m.mu.Lock()
	p, timeout := e.prober, e.cfg.Timeout.D()
	e.serial++
	serial := e.serial
	m.mu.Unlock()
	if p == nil {
		return fmt.Errorf("probe %q: channel has no prober", name)
	}

	pctx, cancel := context.WithTimeout(ctx, timeout)
	start := time.Now()
	err := p.Probe(pctx)
	latency := time.Since(start)
	cancel()
	if ctx.Err() != nil {
		// The caller stopped the probe (Remove, Close, a cancelled
		// ProbeNow): that says nothing about the channel.
		if err == nil {
			err = ctx.Err()
		}
		return err
	}

	m.mu.Lock()
	if m.entries[name] != e || serial < e.applied {
		m.mu.Unlock()
		return err
	}
	e.applied = serial
	from := e.status.State
	m.recordLocked(e, start, latency, err)
	hooks := m.publishLocked()
	probed := m.probed
	s := e.status
	m.mu.Unlock()

	for _, fn := range probed {
		fn(name, latency, err)
	}
	if from != s.State {
		m.logChange(s, from)
		m.notify(hooks, name, from, s.State)
	}
	return err
}

// recordLocked applies one probe result. The rules follow Gatus: down after
// fail_after failures in a row, back only after recover_after successes in
// a row; one good probe clears a degraded channel since it never left.
func (m *Monitor) recordLocked(e *entry, at time.Time, latency time.Duration, err error) {
	st := &e.status
	st.LastProbeAt = at
	st.LastProbeLatency = latency
	next := st.ProbeState
	if err != nil {
		st.LastProbeError = err.Error()
		st.ConsecutiveFailures++
		st.ConsecutiveSuccesses = 0
		switch {
		case st.ProbeState == Down:
		case st.ConsecutiveFailures >= e.cfg.FailAfter:
			next = Down
		default:
			next = Degraded
		}
	} else {
		st.LastProbeError = ""
		st.ConsecutiveSuccesses++
		st.ConsecutiveFailures = 0
		if st.ProbeState != Down || st.ConsecutiveSuccesses >= e.cfg.RecoverAfter {
			next = Healthy
		}
	}
	st.ProbeState = next
	if st.State != Disabled {
		m.setStateLocked(e, next)
	}
}

func (m *Monitor) setStateLocked(e *entry, to State) {
	if e.status.State != to {
		e.status.State = to
		e.status.ChangedAt = time.Now()
	}
}

// publishLocked replaces the read view and returns the hooks to call once
// the lock is released.
func (m *Monitor) publishLocked() []func(string, State, State) {
	v := make(map[string]Status, len(m.entries))
	for name, e := range m.entries {
		v[name] = e.status
	}
	m.view.Store(&v)
	return m.hooks
}

func (m *Monitor) notify(hooks []func(string, State, State), name string, from, to State) {
	if from == to {
		return
	}
	for _, h := range hooks {
		h(name, from, to)
	}
}

func (m *Monitor) logChange(s Status, from State) {
	attrs := []any{"channel", s.Name, "from", string(from), "to", string(s.State)}
	switch s.State {
	case Down, Degraded:
		attrs = append(attrs, "consecutive_failures", s.ConsecutiveFailures, "error", s.LastProbeError)
		m.log.Warn("channel health changed", attrs...)
	default:
		m.log.Info("channel health changed", attrs...)
	}
}

func withDefaults(c config.Probe) config.Probe {
	if c.Interval <= 0 {
		c.Interval = config.Duration(DefaultInterval)
	}
	if c.Timeout <= 0 {
		c.Timeout = config.Duration(DefaultTimeout)
	}
	if c.FailAfter <= 0 {
		c.FailAfter = DefaultFailAfter
	}
	if c.RecoverAfter <= 0 {
		c.RecoverAfter = DefaultRecoverAfter
	}
	return c
}
