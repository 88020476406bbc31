package health_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/health"
)

// waitFor bounds every wait on a background goroutine.
const waitFor = 5 * time.Second

var errProbe = errors.New("probe: connection refused")

// fakeProber fails while err is set; with block set it hangs until its ctx ends.
type fakeProber struct {
	err      atomic.Pointer[error]
	block    atomic.Bool
	calls    atomic.Int64
	inFlight atomic.Int64
}

func (p *fakeProber) set(err error) { p.err.Store(&err) }

func (p *fakeProber) Probe(ctx context.Context) error {
	p.calls.Add(1)
	p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	if p.block.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	if e := p.err.Load(); e != nil {
		return *e
	}
	return nil
}

type change struct {
	name     string
	from, to health.State
}

type testBundle struct {
	m *health.Monitor

	mu      sync.Mutex
	changes []change
}

func (b *testBundle) recorded() []change {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]change(nil), b.changes...)
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	b := &testBundle{m: health.New(slog.New(slog.DiscardHandler))}
	b.m.OnChange(func(name string, from, to health.State) {
		// Hooks run without locks held, so calling back in must not deadlock.
		_, _, _ = b.m.Usable(name)
		b.mu.Lock()
		b.changes = append(b.changes, change{name, from, to})
		b.mu.Unlock()
	})
	t.Cleanup(func() {
		b.m.Close()
		require.Zero(t, b.m.RunningLoops())
	})
	return b
}

// addSettled adds a channel whose loop will not tick again during the test
// and waits for its immediate first probe (a success), so that ProbeNow
// then drives every transition deterministically.
func addSettled(t *testing.T, b *testBundle, name string, cfg config.Probe) *fakeProber {
	t.Helper()
	p := &fakeProber{}
	cfg.Interval = config.Duration(time.Hour)
	b.m.Add(name, p, cfg)
	require.Eventually(t, func() bool {
		s, ok := b.m.Status(name)
		return ok && !s.LastProbeAt.IsZero()
	}, waitFor, time.Millisecond)
	return p
}

func TestTransitions(t *testing.T) {
	t.Parallel()
	const F, G = false, true // failed, good probe
	tests := []struct {
		name  string
		cfg   config.Probe
		steps []bool
		want  []health.State
	}{
		{
			name:  "down after three failures, healthy after two good",
			steps: []bool{F, F, F, G, G},
			want:  []health.State{health.Degraded, health.Degraded, health.Down, health.Down, health.Healthy},
		},
		{
			name:  "one good probe clears degraded",
			steps: []bool{F, F, G, F},
			want:  []health.State{health.Degraded, health.Degraded, health.Healthy, health.Degraded},
		},
		{
			name:  "a failure while recovering restarts the count",
			steps: []bool{F, F, F, G, F, G, G},
			want:  []health.State{health.Degraded, health.Degraded, health.Down, health.Down, health.Down, health.Down, health.Healthy},
		},
		{
			name:  "custom thresholds",
			cfg:   config.Probe{FailAfter: 1, RecoverAfter: 3},
			steps: []bool{F, G, G, G},
			want:  []health.State{health.Down, health.Down, health.Down, health.Healthy},
		},
		{
			name:  "higher fail_after",
			cfg:   config.Probe{FailAfter: 5},
			steps: []bool{F, F, F, F, F},
			want:  []health.State{health.Degraded, health.Degraded, health.Degraded, health.Degraded, health.Down},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			p := addSettled(t, b, "sms", tt.cfg)
			for i, good := range tt.steps {
				if good {
					p.set(nil)
				} else {
					p.set(errProbe)
				}
				err := b.m.ProbeNow(t.Context(), "sms")
				require.Equal(t, !good, err != nil, "step %d", i)
				s, ok := b.m.Status("sms")
				require.True(t, ok)
				require.Equal(t, tt.want[i], s.State, "step %d", i)
				usable, state, reason := b.m.Usable("sms")
				require.Equal(t, tt.want[i], state)
				require.Equal(t, tt.want[i] != health.Down, usable, "step %d: %s", i, reason)
				if !good {
					require.Equal(t, errProbe.Error(), s.LastProbeError)
					require.Contains(t, reason, errProbe.Error())
				}
			}
			// Every change was reported once, in order (ProbeNow is synchronous).
			var want []change
			prev := health.Healthy
			for _, st := range tt.want {
				if st != prev {
					want = append(want, change{"sms", prev, st})
					prev = st
				}
			}
			require.Equal(t, want, b.recorded())
		})
	}
}

func TestStatusFields(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := addSettled(t, b, "email", config.Probe{})
	p.set(errProbe)
	before := time.Now()
	require.ErrorIs(t, b.m.ProbeNow(t.Context(), "email"), errProbe)

	s, ok := b.m.Status("email")
	require.True(t, ok)
	require.Equal(t, "email", s.Name)
	require.True(t, s.Probing)
	require.False(t, s.LastProbeAt.Before(before))
	require.GreaterOrEqual(t, s.LastProbeLatency, time.Duration(0))
	require.Equal(t, 1, s.ConsecutiveFailures)
	require.Zero(t, s.ConsecutiveSuccesses)
	require.False(t, s.ChangedAt.Before(before))

	snap := b.m.Snapshot()
	require.Len(t, snap, 1)
	require.Equal(t, s, snap[0])
}

func TestUnknownChannelIsUsable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ok, state, reason := b.m.Usable("nope")
	require.True(t, ok)
	require.Equal(t, health.Healthy, state)
	require.Empty(t, reason)
	_, found := b.m.Status("nope")
	require.False(t, found)
	require.ErrorIs(t, b.m.Disable("nope", "x"), health.ErrUnknownChannel)
	require.ErrorIs(t, b.m.Enable("nope"), health.ErrUnknownChannel)
	require.ErrorIs(t, b.m.ProbeNow(t.Context(), "nope"), health.ErrUnknownChannel)
}

func TestDisableWinsOverProbes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := addSettled(t, b, "whatsapp", config.Probe{FailAfter: 2})

	require.NoError(t, b.m.Disable("whatsapp", "Meta outage, INC-42"))
	ok, state, reason := b.m.Usable("whatsapp")
	require.False(t, ok)
	require.Equal(t, health.Disabled, state)
	require.Contains(t, reason, "INC-42")
	s, _ := b.m.Status("whatsapp")
	require.Equal(t, "Meta outage, INC-42", s.DisabledReason)
	require.False(t, s.DisabledAt.IsZero())

	// Probes keep running and their verdict is kept, but never overrides ops.
	p.set(nil)
	require.NoError(t, b.m.ProbeNow(t.Context(), "whatsapp"))
	p.set(errProbe)
	for range 2 {
		require.Error(t, b.m.ProbeNow(t.Context(), "whatsapp"))
	}
	s, _ = b.m.Status("whatsapp")
	require.Equal(t, health.Disabled, s.State)
	require.Equal(t, health.Down, s.ProbeState)

	// Enabling returns to what the probes say, not to healthy.
	require.NoError(t, b.m.Enable("whatsapp"))
	ok, state, _ = b.m.Usable("whatsapp")
	require.False(t, ok)
	require.Equal(t, health.Down, state)
	s, _ = b.m.Status("whatsapp")
	require.Empty(t, s.DisabledReason)
	require.True(t, s.DisabledAt.IsZero())
	require.NoError(t, b.m.Enable("whatsapp"), "enabling twice is harmless")

	require.Equal(t, []change{
		{"whatsapp", health.Healthy, health.Disabled},
		{"whatsapp", health.Disabled, health.Down},
	}, b.recorded())
}

func TestReAddKeepsStateAndOverride(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := addSettled(t, b, "sms", config.Probe{FailAfter: 1})
	p.set(errProbe)
	require.Error(t, b.m.ProbeNow(t.Context(), "sms"))
	require.NoError(t, b.m.Disable("sms", "maintenance"))

	// A reload builds a new channel; its first probe passes, but one good
	// probe is not enough to leave down, and the override stays.
	np := &fakeProber{}
	b.m.Add("sms", np, config.Probe{Interval: config.Duration(time.Hour), FailAfter: 1})
	require.Eventually(t, func() bool { return np.calls.Load() == 1 }, waitFor, time.Millisecond)
	require.Eventually(t, func() bool {
		s, _ := b.m.Status("sms")
		return s.ConsecutiveSuccesses == 1
	}, waitFor, time.Millisecond)
	s, _ := b.m.Status("sms")
	require.Equal(t, health.Disabled, s.State)
	require.Equal(t, health.Down, s.ProbeState)
	require.Equal(t, "maintenance", s.DisabledReason)
	require.EqualValues(t, 1, b.m.RunningLoops(), "the old loop was stopped")
}

func TestProbeTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := addSettled(t, b, "telegram", config.Probe{Timeout: config.Duration(10 * time.Millisecond)})
	p.block.Store(true)
	err := b.m.ProbeNow(t.Context(), "telegram")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	s, _ := b.m.Status("telegram")
	require.Equal(t, health.Degraded, s.State)
	require.Contains(t, s.LastProbeError, "deadline exceeded")
}

func TestCancelledProbeIsNotRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := addSettled(t, b, "sms", config.Probe{})
	p.block.Store(true)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, b.m.ProbeNow(ctx, "sms"), context.Canceled)
	s, _ := b.m.Status("sms")
	require.Equal(t, health.Healthy, s.State)
	require.Zero(t, s.ConsecutiveFailures)
}

func TestProbesDisabledInConfig(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := &fakeProber{}
	b.m.Add("email", p, config.Probe{Disabled: true})
	require.Zero(t, b.m.RunningLoops())
	require.Zero(t, p.calls.Load())
	s, ok := b.m.Status("email")
	require.True(t, ok)
	require.False(t, s.Probing)
	require.Equal(t, health.Healthy, s.State)
	require.NoError(t, b.m.Disable("email", "x"))
	ok, _, _ = b.m.Usable("email")
	require.False(t, ok)
}

func TestRealLoop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := &fakeProber{}
	p.set(errProbe)
	b.m.Add("sms", p, config.Probe{Interval: config.Duration(5 * time.Millisecond), Timeout: config.Duration(time.Second)})

	stateIs := func(want health.State) func() bool {
		return func() bool { _, st, _ := b.m.Usable("sms"); return st == want }
	}
	require.Eventually(t, stateIs(health.Down), waitFor, time.Millisecond)
	p.set(nil)
	require.Eventually(t, stateIs(health.Healthy), waitFor, time.Millisecond)
	s, _ := b.m.Status("sms")
	require.GreaterOrEqual(t, s.ConsecutiveSuccesses, 2)
}

func TestRemoveStopsProbing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := &fakeProber{}
	b.m.Add("sms", p, config.Probe{Interval: config.Duration(time.Millisecond)})
	require.Eventually(t, func() bool { return p.calls.Load() >= 3 }, waitFor, time.Millisecond)

	b.m.Remove("sms")
	// Remove waits for the loop, so the count is final at once.
	require.Zero(t, b.m.RunningLoops())
	calls := p.calls.Load()
	_, found := b.m.Status("sms")
	require.False(t, found)
	ok, _, _ := b.m.Usable("sms")
	require.True(t, ok)
	time.Sleep(20 * time.Millisecond) // would be ~20 ticks if the loop survived
	require.Equal(t, calls, p.calls.Load())
	b.m.Remove("sms") // removing twice is harmless
}

func TestCloseWaitsForLoops(t *testing.T) {
	t.Parallel()
	m := health.New(nil)
	probers := make([]*fakeProber, 5)
	for i := range probers {
		p := &fakeProber{}
		p.block.Store(true) // every loop is inside Probe when Close starts
		probers[i] = p
		m.Add(fmt.Sprint("ch", i), p, config.Probe{Timeout: config.Duration(time.Hour)})
	}
	require.Eventually(t, func() bool {
		for _, p := range probers {
			if p.inFlight.Load() != 1 {
				return false
			}
		}
		return true
	}, waitFor, time.Millisecond)
	require.EqualValues(t, 5, m.RunningLoops())

	m.Close()
	require.Zero(t, m.RunningLoops())
	for _, p := range probers {
		require.Zero(t, p.inFlight.Load())
	}
	// The cancelled probes did not count as failures.
	for _, s := range m.Snapshot() {
		require.Equal(t, health.Healthy, s.State)
		require.False(t, s.Probing)
	}
	m.Add("late", &fakeProber{}, config.Probe{})
	require.Zero(t, m.RunningLoops())
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := &fakeProber{}
	b.m.Add("sms", p, config.Probe{Interval: config.Duration(time.Millisecond), FailAfter: 1, RecoverAfter: 1})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				switch (i + j) % 5 {
				case 0:
					p.set(errProbe)
				case 1:
					p.set(nil)
				case 2:
					_ = b.m.Disable("sms", "drill")
				case 3:
					_ = b.m.Enable("sms")
				}
				_ = b.m.ProbeNow(context.Background(), "sms")
				_, _, _ = b.m.Usable("sms")
				_ = b.m.Snapshot()
			}
		})
	}
	wg.Wait()
}

func TestOnProbeSeesEveryAppliedResult(t *testing.T) {
	t.Parallel()
	m := health.New(nil)
	defer m.Close()
	type result struct {
		name string
		ok   bool
	}
	got := make(chan result, 8)
	m.OnProbe(func(name string, _ time.Duration, err error) { got <- result{name, err == nil} })
	p := &toggleProber{}
	m.Add("sms", p, config.Probe{Interval: config.Duration(time.Hour), Timeout: config.Duration(time.Second)})
	require.Equal(t, result{"sms", true}, <-got, "the first probe runs at once")
	p.fail.Store(true)
	require.Error(t, m.ProbeNow(context.Background(), "sms"))
	require.Equal(t, result{"sms", false}, <-got)
}

type toggleProber struct{ fail atomic.Bool }

func (p *toggleProber) Probe(context.Context) error {
	if p.fail.Load() {
		return errors.New("down")
	}
	return nil
}

func TestDisableByRecordsWhoAndWhen(t *testing.T) {
	t.Parallel()
	b := setup(t)
	addSettled(t, b, "sms", config.Probe{})
	at := time.Date(2026, 5, 4, 10, 15, 30, 0, time.UTC)
	require.NoError(t, b.m.DisableBy("sms", "incident 42", "ops", at))
	s, _ := b.m.Status("sms")
	require.Equal(t, health.Disabled, s.State)
	require.Equal(t, "ops", s.DisabledBy)
	require.Equal(t, at, s.DisabledAt, "a stored override keeps its own time")
	require.NoError(t, b.m.Enable("sms"))
	s, _ = b.m.Status("sms")
	require.Empty(t, s.DisabledBy)
	require.True(t, s.DisabledAt.IsZero())
	require.ErrorIs(t, b.m.DisableBy("nope", "x", "ops", at), health.ErrUnknownChannel)
}
