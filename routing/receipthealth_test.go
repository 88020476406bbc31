package routing

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/store"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const deadline = 30 * time.Second

func newRH(cfg config.ReceiptHealth) *ReceiptHealth {
	return NewReceiptHealth("whatsapp", channels.WhatsApp, cfg, slog.New(slog.DiscardHandler))
}

// event is one thing that happens to a send: at offset `at` from t0 the
// send n is sent (expected by at+deadline), or its receipt comes, or the
// dispatcher's no_receipt step judges it missed.
type event struct {
	kind string // "send", "receipt", "miss"
	n    int
	at   time.Duration
}

func play(h *ReceiptHealth, evs []event) (wentSilent bool) {
	for _, e := range evs {
		id := fmt.Sprintf("m%d", e.n)
		at := t0.Add(e.at)
		switch e.kind {
		case "send":
			h.expect(id, 1, at, at.Add(deadline), byStep)
		case "receipt":
			wentSilent = h.receipt(id, 1, store.AttemptDelivered, at) || wentSilent
		case "miss":
			wentSilent = h.miss(id, 1, at) || wentSilent
		}
	}
	return wentSilent
}

// sends makes n sends at offset at, numbered from first.
func sends(first, n int, at time.Duration) []event {
	var out []event
	for i := range n {
		out = append(out, event{"send", first + i, at})
	}
	return out
}

func outcomes(kind string, first, n int, at time.Duration) []event {
	var out []event
	for i := range n {
		out = append(out, event{kind, first + i, at})
	}
	return out
}

func concat(parts ...[]event) []event {
	var out []event
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestReceiptWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		events []event
		at     time.Duration // when Stats is read
		want   ReceiptStats  // Sends, Confirmed, Receipts, Late, Pending compared
	}{
		{
			name:   "confirmed in time",
			events: concat(sends(0, 3, 0), outcomes("receipt", 0, 3, 2*time.Second)),
			at:     time.Minute, want: ReceiptStats{Sends: 3, Confirmed: 3, Receipts: 3},
		},
		{
			name:   "pending sends are not judged",
			events: sends(0, 4, 0),
			at:     10 * time.Second, want: ReceiptStats{Pending: 4},
		},
		{
			name:   "a receipt after the deadline is late and unconfirmed",
			events: concat(sends(0, 2, 0), outcomes("receipt", 0, 1, 40*time.Second), outcomes("receipt", 1, 1, time.Second)),
			at:     time.Minute, want: ReceiptStats{Sends: 2, Confirmed: 1, Receipts: 2, Late: 1},
		},
		{
			name:   "a receipt after the miss gives latency only",
			events: concat(sends(0, 1, 0), outcomes("miss", 0, 1, 31*time.Second), outcomes("receipt", 0, 1, 50*time.Second)),
			at:     time.Minute, want: ReceiptStats{Sends: 1, Receipts: 1, Late: 1},
		},
		{
			name: "outcomes older than the window drop out",
			events: concat(sends(0, 4, 0), outcomes("miss", 0, 4, 31*time.Second),
				sends(10, 2, 5*time.Minute), outcomes("receipt", 10, 2, 5*time.Minute+time.Second)),
			at: 6 * time.Minute, want: ReceiptStats{Sends: 2, Confirmed: 2, Receipts: 2},
		},
		{
			name:   "inside the window they stay",
			events: concat(sends(0, 4, 0), outcomes("miss", 0, 4, 31*time.Second)),
			at:     5 * time.Minute, want: ReceiptStats{Sends: 4},
		},
		{
			name:   "an unknown attempt is not counted",
			events: concat(outcomes("receipt", 7, 1, time.Second), outcomes("miss", 8, 1, time.Second)),
			at:     time.Minute, want: ReceiptStats{},
		},
		{
			name:   "a second receipt for the same send is not counted",
			events: concat(sends(0, 1, 0), outcomes("receipt", 0, 1, time.Second), outcomes("receipt", 0, 1, 2*time.Second)),
			at:     time.Minute, want: ReceiptStats{Sends: 1, Confirmed: 1, Receipts: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newRH(config.ReceiptHealth{MinSends: 100}) // never silent here
			play(h, tt.events)
			got := h.Stats(t0.Add(tt.at))
			require.Equal(t, tt.want.Sends, got.Sends, "sends: %s", got)
			require.Equal(t, tt.want.Confirmed, got.Confirmed, "confirmed: %s", got)
			require.Equal(t, tt.want.Receipts, got.Receipts, "receipts: %s", got)
			require.Equal(t, tt.want.Late, got.Late, "late: %s", got)
			require.Equal(t, tt.want.Pending, got.Pending, "pending: %s", got)
			require.Equal(t, 5*time.Minute, got.Window)
		})
	}
}

func TestReceiptLatencyP90(t *testing.T) {
	t.Parallel()
	h := newRH(config.ReceiptHealth{MinSends: 100})
	var evs []event
	for i := range 10 {
		evs = append(evs, event{"send", i, 0})
		lat := 800 * time.Millisecond // 9 of 10 within a second
		if i == 9 {
			lat = 20 * time.Second
		}
		evs = append(evs, event{"receipt", i, lat})
	}
	play(h, evs)
	st := h.Stats(t0.Add(time.Minute))
	require.Greater(t, st.P90, 500*time.Millisecond, "%s", st)
	require.LessOrEqual(t, st.P90, time.Second, "%s", st)
	r, ok := st.Ratio()
	require.True(t, ok)
	require.InDelta(t, 1.0, r, 1e-9)

	_, ok = ReceiptStats{}.Ratio()
	require.False(t, ok, "no ratio without sends")
	require.Zero(t, quantile(make([]uint32, len(latencyBounds)+1), 0.9))
}

func TestReceiptBreakerThresholds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cfg    config.ReceiptHealth
		events []event
		silent bool
	}{
		{name: "five misses", events: concat(sends(0, 5, 0), outcomes("miss", 0, 5, 31*time.Second)), silent: true},
		{name: "too few sends judged", events: concat(sends(0, 4, 0), outcomes("miss", 0, 4, 31*time.Second))},
		{name: "many sent, few judged yet", events: concat(sends(0, 40, 0), outcomes("miss", 0, 4, 31*time.Second))},
		{
			name:   "exactly the ratio is not below it",
			events: concat(sends(0, 5, 0), outcomes("receipt", 0, 1, time.Second), outcomes("miss", 1, 4, 31*time.Second)),
		},
		{
			name:   "just below the ratio",
			events: concat(sends(0, 6, 0), outcomes("receipt", 0, 1, time.Second), outcomes("miss", 1, 5, 31*time.Second)),
			silent: true,
		},
		{
			name:   "mostly confirmed",
			events: concat(sends(0, 10, 0), outcomes("receipt", 0, 8, time.Second), outcomes("miss", 8, 2, 31*time.Second)),
		},
		{
			name: "receipt latency p90 over the deadline",
			// 8 of 10 in time: the ratio is fine but 2 of 10 receipts are late.
			events: concat(sends(0, 10, 0), outcomes("receipt", 0, 8, time.Second), outcomes("receipt", 8, 2, 45*time.Second)),
			silent: true,
		},
		{
			name:   "one late receipt in ten is p90 at the deadline, not over",
			events: concat(sends(0, 10, 0), outcomes("receipt", 0, 9, time.Second), outcomes("receipt", 9, 1, 45*time.Second)),
		},
		{
			name: "misses spread over more than the window",
			events: concat(sends(0, 3, 0), outcomes("miss", 0, 3, 31*time.Second),
				sends(3, 3, 6*time.Minute), outcomes("miss", 3, 3, 6*time.Minute+31*time.Second)),
		},
		{
			// Slow but working: every receipt comes, late in the deadline
			// (25 s of 30 s). Slowness alone is not silence.
			name:   "slow but working",
			events: concat(sends(0, 20, 0), outcomes("receipt", 0, 20, 25*time.Second)),
		},
		{
			// Flapping: every other send is lost. Half the customers still
			// get WhatsApp; the per-message deadline handles the rest.
			name: "flapping, half delivered",
			events: concat(sends(0, 20, 0), func() []event {
				var out []event
				for i := range 20 {
					if i%2 == 0 {
						out = append(out, event{"receipt", i, time.Second})
					} else {
						out = append(out, event{"miss", i, 31 * time.Second})
					}
				}
				return out
			}()),
		},
		{
			// Flapping into a dark spell: the misses of the dark minutes
			// outnumber the window's confirmations.
			name: "flapping, then dark",
			events: concat(sends(0, 4, 0), outcomes("receipt", 0, 4, time.Second),
				sends(4, 30, 4*time.Minute), outcomes("miss", 4, 30, 4*time.Minute+31*time.Second)),
			silent: true,
		},
		{
			name:   "custom thresholds: min_sends 2, ratio 0.6",
			cfg:    config.ReceiptHealth{MinSends: 2, MinConfirmedRatio: 0.6},
			events: concat(sends(0, 2, 0), outcomes("receipt", 0, 1, time.Second), outcomes("miss", 1, 1, 31*time.Second)),
			silent: true,
		},
		{
			name:   "disabled never goes silent",
			cfg:    config.ReceiptHealth{Disabled: true},
			events: concat(sends(0, 10, 0), outcomes("miss", 0, 10, 31*time.Second)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newRH(tt.cfg)
			went := play(h, tt.events)
			require.Equal(t, tt.silent, h.Silent())
			require.Equal(t, tt.silent, went)
			st := h.Stats(t0.Add(7 * time.Minute))
			require.Equal(t, tt.silent, st.Silent)
			if tt.silent {
				require.False(t, st.SilentSince.IsZero())
			}
		})
	}
}

func TestSilentSinceIsTheDetectionTime(t *testing.T) {
	t.Parallel()
	h := newRH(config.ReceiptHealth{})
	play(h, concat(sends(0, 5, 0), outcomes("miss", 0, 4, 31*time.Second), outcomes("miss", 4, 1, 33*time.Second)))
	require.Equal(t, t0.Add(33*time.Second), h.Stats(t0.Add(time.Minute)).SilentSince)
	require.Equal(t, "WhatsApp is accepting messages but not delivering them", h.SilentDetail())
}

// Entering silent hands over the sends still waiting for a receipt with a
// dispatcher step to come whose policy fails over on silent, once;
// canaries, self-judged sends and policies without the trigger are not.
func TestSilentHandsOverWaitingSends(t *testing.T) {
	t.Parallel()
	h := newRH(config.ReceiptHealth{})
	play(h, sends(0, 5, 0))
	h.expect("late-1", 1, t0.Add(20*time.Second), t0.Add(50*time.Second), byStep)
	h.expect("late-2", 3, t0.Add(25*time.Second), t0.Add(55*time.Second), byStep)
	h.expect("self", 1, t0.Add(25*time.Second), t0.Add(55*time.Second), bySweep)
	h.expect("stay", 1, t0.Add(25*time.Second), t0.Add(55*time.Second), byStepStay)
	require.Nil(t, h.takeFlush())
	require.True(t, play(h, outcomes("miss", 0, 5, 31*time.Second)))
	got := h.takeFlush()
	require.ElementsMatch(t, []store.AttemptRef{
		{MessageID: "late-1", Seq: 1, Channel: "whatsapp"},
		{MessageID: "late-2", Seq: 3, Channel: "whatsapp"},
	}, got)
	require.Nil(t, h.takeFlush(), "handed over once")
	// Failing over abandons them: a step for them counts nothing more.
	h.abandon("late-1", 1)
	require.False(t, h.miss("late-1", 1, t0.Add(51*time.Second)))
	require.Equal(t, 5, h.Stats(t0.Add(52*time.Second)).Sends)
}

func TestCanaryShareAndRecovery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		ratio float64
		want  int // canaries among 40 eligible messages
	}{
		{"default 5%", 0, 2},
		{"a quarter", 0.25, 10},
		{"all", 1, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newRH(config.ReceiptHealth{CanaryRatio: tt.ratio})
			require.False(t, h.takeCanary("+1555"), "no canary while healthy")
			play(h, concat(sends(0, 5, 0), outcomes("miss", 0, 5, 31*time.Second)))
			n := 0
			for range 40 {
				if h.takeCanary("+15550000000") {
					n++
				}
			}
			require.Equal(t, tt.want, n)
		})
	}

	t.Run("canary_to always", func(t *testing.T) {
		t.Parallel()
		h := newRH(config.ReceiptHealth{CanaryTo: []string{"+15559990000"}})
		play(h, concat(sends(0, 5, 0), outcomes("miss", 0, 5, 31*time.Second)))
		for range 5 {
			require.True(t, h.takeCanary("+15559990000"))
		}
	})

	t.Run("an older canary failing later does not break a newer run", func(t *testing.T) {
		t.Parallel()
		h := newRH(config.ReceiptHealth{})
		play(h, concat(sends(0, 5, 0), outcomes("miss", 0, 5, 31*time.Second)))
		require.True(t, h.Silent())
		base := t0.Add(time.Minute)
		// Sent while the provider was still dark: no receipt will come.
		h.expect("old", 2, base, base.Add(deadline), asCanary)
		// The provider is back: two newer canaries are confirmed...
		for i, off := range []time.Duration{5 * time.Second, 6 * time.Second} {
			id := fmt.Sprintf("new%d", i)
			h.expect(id, 2, base.Add(off), base.Add(off+deadline), asCanary)
			h.receipt(id, 2, store.AttemptDelivered, base.Add(off+100*time.Millisecond))
		}
		require.Equal(t, 2, h.Stats(base.Add(7*time.Second)).CanaryRun)
		// ...then the old one reaches its deadline: stale news.
		h.poll(base.Add(deadline + time.Second))
		require.Equal(t, 2, h.Stats(base.Add(deadline+time.Second)).CanaryRun)
		h.expect("new2", 2, base.Add(deadline+2*time.Second), base.Add(2*deadline+2*time.Second), asCanary)
		h.receipt("new2", 2, store.AttemptDelivered, base.Add(deadline+2*time.Second+100*time.Millisecond))
		require.False(t, h.Silent(), "three confirmed canaries in a row")
	})

	t.Run("recover after confirmed canaries in a row", func(t *testing.T) {
		t.Parallel()
		h := newRH(config.ReceiptHealth{})
		play(h, concat(sends(0, 5, 0), outcomes("miss", 0, 5, 31*time.Second)))
		require.True(t, h.Silent())
		base := t0.Add(time.Minute)
		canary := func(n int, latency time.Duration) {
			id := fmt.Sprintf("c%d", n)
			sent := base.Add(time.Duration(n) * time.Minute)
			h.expect(id, 2, sent, sent.Add(deadline), asCanary)
			if latency > 0 {
				h.receipt(id, 2, store.AttemptDelivered, sent.Add(latency))
			}
		}
		canary(1, time.Second)
		canary(2, time.Second)
		require.Equal(t, 2, h.Stats(base.Add(3*time.Minute)).CanaryRun)
		// The third canary gets no receipt: the sweep judges it at its
		// deadline and the run starts over.
		canary(3, 0)
		h.poll(base.Add(4 * time.Minute))
		require.Equal(t, 0, h.Stats(base.Add(4*time.Minute)).CanaryRun)
		require.True(t, h.Silent())
		canary(4, time.Second)
		canary(5, 40*time.Second) // late: not confirmed
		require.Equal(t, 0, h.Stats(base.Add(6*time.Minute)).CanaryRun)
		canary(6, time.Second)
		canary(7, time.Second)
		require.True(t, h.Silent())
		canary(8, 2*time.Second)
		require.False(t, h.Silent(), "three in a row")
		st := h.Stats(base.Add(9 * time.Minute))
		require.False(t, st.Silent)
		require.True(t, st.SilentSince.IsZero())
		require.Equal(t, base.Add(8*time.Minute+2*time.Second), st.RecoveredAt)
		require.Zero(t, st.Sends, "a fresh window after recovery")
		require.False(t, h.takeCanary(""), "no canaries once healthy")
	})
}

// Expectations are forgotten once their deadline and a window have
// passed: memory stays bounded whatever happens to the sends.
func TestReceiptExpectationsAreForgotten(t *testing.T) {
	t.Parallel()
	h := newRH(config.ReceiptHealth{MinSends: 1000})
	play(h, sends(0, 50, 0))
	h.expect("self", 1, t0, t0.Add(deadline), bySweep)
	st := h.Stats(t0.Add(time.Minute))
	require.Equal(t, 50, st.Pending, "dispatcher-judged sends wait for their step")
	require.Equal(t, 1, st.Sends, "a self-judged send is judged at its deadline")
	h.poll(t0.Add(deadline + 5*time.Minute + 2*time.Second))
	h.mu.Lock()
	n := len(h.tracked)
	h.mu.Unlock()
	require.Zero(t, n)
}
