// Package sim is a simulated provider: the gateway runs, demonstrates
// failover and rehearses outages (loud and silent) with no credentials. Its
// mode can be changed at run time, and it counts what it accepted so tests
// and drills can prove a message was not sent twice.
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
)

const (
	defaultReceiptDelay = 100 * time.Millisecond
	// receiptTimeout bounds one hand-off to the receipt sink, so a stuck
	// sink cannot pile up timer goroutines.
	receiptTimeout = 5 * time.Second
	// maxTrackedIDs bounds the per-message send counts. Two generations are
	// kept, so counts for at least the last maxTrackedIDs ids are exact.
	maxTrackedIDs = 100_000
)

var (
	_ channels.Channel = (*Sim)(nil)
	_ channels.Closer  = (*Sim)(nil)
)

// Errors the simulated provider returns, wrapped in *channels.Error.
var (
	errUnavailable = errors.New("sim: provider unavailable (503)")
	errRejected    = errors.New("sim: recipient rejected")
	errClosed      = errors.New("sim: channel closed")
)

func init() {
	channels.Register("sim", build)
}

func build(cfg *config.Channel, deps channels.Deps) (channels.Channel, error) {
	if cfg.Kind == "" {
		return nil, &config.Error{File: cfg.File, Line: cfg.Line, Key: "channels." + cfg.Name + ".kind",
			Msg: "required for type sim (one of whatsapp, sms, email, telegram)"}
	}
	kind, err := channels.ParseKind(cfg.Kind)
	if err != nil {
		return nil, &config.Error{File: cfg.File, Line: cfg.Line, Key: "channels." + cfg.Name + ".kind", Msg: err.Error()}
	}
	opts := DefaultOptions()
	var errs config.Errors
	if err := cfg.DecodeOptions(&opts); err != nil {
		if !errors.As(err, &errs) {
			return nil, err
		}
	}
	// Validate even after decode errors: a key that failed to decode keeps
	// its valid default, so every problem reported here is real, and one
	// run of "config validate" shows them all.
	for _, p := range opts.validate() {
		errs = append(errs, &config.Error{File: cfg.File, Line: cfg.OptionLine(p.key),
			Key: "channels." + cfg.Name + "." + p.key, Msg: p.err.Error()})
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *config.Error) int { return a.Line - b.Line })
		return nil, errs
	}
	return New(cfg.Name, kind, opts, deps)
}

// SimStats counts what the simulated provider did since it was built.
type SimStats struct {
	Accepted int64 // sends accepted (up, blackhole, undeliver, flaky successes)
	Failed   int64 // sends that returned an error, including ctx ends
	Receipts int64 // receipts the sink took without error
}

// Sim is one simulated provider account.
type Sim struct {
	name string
	kind channels.Kind
	opts Options // immutable after New, except the mode below
	deps channels.Deps

	mode atomic.Pointer[string]

	accepted, failed, receipts atomic.Int64

	// ctx is cancelled by Close, ending in-flight receipt hand-offs and
	// sends hanging in timeout mode.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	timers  map[uint64]*time.Timer
	nextID  uint64
	pending sync.WaitGroup // receipt timers scheduled and not yet finished or stopped
	sends   map[string]int64
	older   map[string]int64 // the previous generation of sends
}

// New builds a simulated channel from already-decoded options; the YAML
// path goes through the registered factory.
func New(name string, kind channels.Kind, opts Options, deps channels.Deps) (*Sim, error) {
	if _, err := channels.ParseKind(string(kind)); err != nil {
		return nil, err
	}
	if ps := opts.validate(); len(ps) > 0 {
		return nil, fmt.Errorf("%s: %w", ps[0].key, ps[0].err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sim{
		name: name, kind: kind, opts: opts, deps: deps,
		ctx: ctx, cancel: cancel,
		timers: map[uint64]*time.Timer{},
		sends:  map[string]int64{},
	}
	mode := opts.Mode
	s.mode.Store(&mode)
	return s, nil
}

func (s *Sim) Name() string        { return s.name }
func (s *Sim) Kind() channels.Kind { return s.kind }

// Mode returns the current mode.
func (s *Sim) Mode() string { return *s.mode.Load() }

// SetMode switches the mode for sends and probes that start from now on.
func (s *Sim) SetMode(mode string) error {
	if err := validMode(mode); err != nil {
		return err
	}
	old := s.mode.Swap(&mode)
	if *old != mode {
		s.deps.Logger.Warn("sim channel mode changed", "from", *old, "to", mode)
	}
	return nil
}

// Send makes one simulated attempt.
func (s *Sim) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	res, err := s.send(ctx, m)
	if err != nil {
		s.failed.Add(1)
	}
	return res, err
}

func (s *Sim) send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	if err := s.wait(ctx); err != nil {
		// Nothing reached the provider yet, so a retry is safe.
		return channels.Result{}, channels.Classify(channels.Transient, fmt.Errorf("sim: connect: %w", err))
	}
	// The mode is read after the latency: that is when the "request"
	// reaches the provider, so a drill flipping the mode affects sends in
	// flight, as a real outage would.
	mode := s.Mode()
	switch mode {
	case ModeDown:
		return channels.Result{}, channels.Classify(channels.Transient, errUnavailable)
	case ModeReject:
		return channels.Result{}, channels.Classify(channels.Permanent, errRejected)
	case ModeTimeout:
		select {
		case <-ctx.Done():
			return channels.Result{}, channels.Classify(channels.Ambiguous,
				fmt.Errorf("sim: no response after the request was written: %w", ctx.Err()))
		case <-s.ctx.Done():
			return channels.Result{}, channels.Classify(channels.Ambiguous,
				fmt.Errorf("sim: no response after the request was written: %w", errClosed))
		}
	case ModeFlaky:
		if rand.Float64() < s.opts.FailureRate {
			return channels.Result{}, channels.Classify(channels.Transient, errUnavailable)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return channels.Result{}, channels.Classify(channels.Transient, errClosed)
	}
	s.countSendLocked(m.ID)
	s.accepted.Add(1)
	// Time-ordered, as many providers' ids are (Telegram's message ids,
	// Twilio's are not): the receipt index then grows at its right edge.
	u, err := uuid.NewV7()
	if err != nil {
		return channels.Result{}, channels.Classify(channels.Transient, fmt.Errorf("sim: provider id: %w", err))
	}
	id := "sim-" + u.String()
	switch mode {
	case ModeUp, ModeFlaky:
		s.scheduleLocked(s.opts.ReceiptDelay.D(), id, channels.ReceiptDelivered, "")
	case ModeUnread:
		s.scheduleLocked(s.opts.ReceiptDelay.D(), id, receiptDeliveredUnread, "")
	case ModeUndeliver:
		s.scheduleLocked(s.opts.ReceiptDelay.D(), id, channels.ReceiptUndelivered, "sim: handset unreachable")
	case ModeBlackhole:
		// Accepted and forgotten: only a receipt deadline can notice.
	}
	return channels.Result{ProviderID: id, Info: "sim mode " + mode, Sender: s.opts.Sender}, nil
}

// Probe fails in the modes a real provider's API would visibly fail in.
// Blackhole passes on purpose: a silent outage is one probes cannot see.
func (s *Sim) Probe(ctx context.Context) error {
	if err := s.wait(ctx); err != nil {
		return channels.Classify(channels.Transient, fmt.Errorf("sim: probe: %w", err))
	}
	switch s.Mode() {
	case ModeDown:
		return channels.Classify(channels.Transient, fmt.Errorf("sim: probe: %w", errUnavailable))
	case ModeTimeout:
		select {
		case <-ctx.Done():
			return channels.Classify(channels.Transient, fmt.Errorf("sim: probe: %w", ctx.Err()))
		case <-s.ctx.Done():
			return channels.Classify(channels.Transient, fmt.Errorf("sim: probe: %w", errClosed))
		}
	}
	return nil
}

// Close stops pending receipts and waits for any hand-off in progress, so
// no receipt from a replaced channel arrives after Close returns.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for id, t := range s.timers {
		if t.Stop() {
			s.pending.Done()
		}
		delete(s.timers, id)
	}
	s.mu.Unlock()
	s.cancel()
	s.pending.Wait()
	return nil
}

// Sends reports how many times Send accepted the Switchboard message id.
// It is for tests and drills (proving no duplicate sends) and is exact for
// at least the last 100,000 distinct ids.
func (s *Sim) Sends(messageID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.sends[messageID] + s.older[messageID])
}

// Stats returns the counters.
func (s *Sim) Stats() SimStats {
	return SimStats{Accepted: s.accepted.Load(), Failed: s.failed.Load(), Receipts: s.receipts.Load()}
}

func (s *Sim) countSendLocked(id string) {
	if _, ok := s.sends[id]; !ok && len(s.sends) >= maxTrackedIDs {
		s.older, s.sends = s.sends, make(map[string]int64)
	}
	s.sends[id]++
}

// wait sleeps for the configured latency plus jitter, or until ctx ends.
func (s *Sim) wait(ctx context.Context) error {
	d := s.opts.Latency.D()
	if j := s.opts.Jitter.D(); j > 0 {
		d += time.Duration(rand.Int64N(int64(j) + 1))
	}
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// receiptDeliveredUnread schedules a delivered receipt that no read
// receipt follows (mode unread); it is emitted as delivered.
const receiptDeliveredUnread channels.ReceiptStatus = "sim:delivered-unread"

// scheduleLocked emits a receipt after d from a timer, so Send never waits
// on the sink. The caller holds s.mu and has checked s.closed.
func (s *Sim) scheduleLocked(d time.Duration, providerID string, status channels.ReceiptStatus, errText string) {
	if s.deps.Receipts == nil {
		return
	}
	s.nextID++
	id := s.nextID
	s.pending.Add(1)
	// The callback takes s.mu before anything else, so it cannot run ahead
	// of the map insert below even when d is 0.
	s.timers[id] = time.AfterFunc(d, func() {
		defer s.pending.Done()
		s.mu.Lock()
		delete(s.timers, id)
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return
		}
		read := status == channels.ReceiptDelivered
		if status == receiptDeliveredUnread {
			status = channels.ReceiptDelivered // and nobody reads it
		}
		s.emit(channels.Receipt{Channel: s.name, ProviderID: providerID, Status: status, At: time.Now(), Error: errText})
		if read && s.opts.ReadDelay > 0 {
			s.mu.Lock()
			if !s.closed {
				s.scheduleLocked(s.opts.ReadDelay.D(), providerID, channels.ReceiptRead, "")
			}
			s.mu.Unlock()
		}
	})
}

func (s *Sim) emit(r channels.Receipt) {
	ctx, cancel := context.WithTimeout(s.ctx, receiptTimeout)
	defer cancel()
	if err := s.deps.Receipts.Receipt(ctx, r); err != nil {
		s.deps.Logger.Debug("sim receipt not taken", "provider_id", r.ProviderID,
			"status", string(r.Status), "error", err)
		return
	}
	s.receipts.Add(1)
}
