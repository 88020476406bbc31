package routing

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/health"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// TestStepTransitions covers the step's transitions that TestStep does
// not: each phase (expire, judge the current attempt, walk the route) and
// each way out of it, one row per transition.
func TestStepTransitions(t *testing.T) {
	t.Parallel()
	delivered := outcome{res: channels.Result{ProviderID: "p-1", Delivered: true}}
	ambiguous := outcome{err: channels.Classify(channels.Ambiguous, errors.New("read timeout"))}
	sentAgo := func(ago time.Duration, st store.AttemptStatus) func(m *store.Message, tb *testBundle) {
		return func(m *store.Message, tb *testBundle) {
			m.Status, m.Channel, m.Attempts = store.StatusSent, "whatsapp", 1
			m.Current = &store.Attempt{MessageID: "m1", Seq: 1, Channel: "whatsapp", Status: st, ProviderID: "p-0", Error: "63016", StartedAt: tb.now.Add(-ago)}
		}
	}
	openBreaker := func(tb *testBundle) {
		for range 2 { // breaker failures: 2
			tb.d.step(t.Context(), message(tb))
		}
		require.Equal(t, "open", tb.d.Router().Lane("whatsapp").BreakerState())
		tb.chans["whatsapp"].mu.Lock()
		tb.chans["whatsapp"].calls = 0
		tb.chans["whatsapp"].mu.Unlock()
	}
	type step struct {
		channel string
		status  store.AttemptStatus
		reason  reason.Reason
	}
	const notDue = -1
	tests := []struct {
		name    string
		pol     *config.Policy
		health  fakeHealth
		scripts map[string][]outcome
		prep    func(tb *testBundle)
		edit    func(m *store.Message, tb *testBundle)

		status   store.Status
		step     int
		channel  string
		nextIn   time.Duration // notDue: not due
		attempts []step
		calls    int    // provider calls made by the step
		lastErr  string // when set, the transition's last error
	}{
		// expire
		{
			name: "finished by a receipt after the claim: the lease is given back",
			edit: func(m *store.Message, _ *testBundle) {
				m.Status, m.Channel = store.StatusDelivered, "whatsapp"
			},
			status: store.StatusDelivered, channel: "whatsapp", nextIn: notDue,
		},
		{
			name: "ttl passed with nothing accepted: expired",
			edit: func(m *store.Message, tb *testBundle) {
				m.ExpiresAt = tb.now.Add(-time.Second)
				m.Status = store.StatusSending
			},
			status: store.StatusExpired, nextIn: notDue, lastErr: "ttl passed before any channel accepted the message",
		},
		// judge the current attempt
		{
			name:   "woken before the receipt deadline, channel not silent: waits it out",
			edit:   sentAgo(10*time.Second, store.AttemptSent),
			status: store.StatusSent, channel: "whatsapp", nextIn: 20 * time.Second,
		},
		{
			name: "woken before the deadline, wait capped at the ttl",
			edit: func(m *store.Message, tb *testBundle) {
				sentAgo(10*time.Second, store.AttemptSent)(m, tb)
				m.ExpiresAt = tb.now.Add(5 * time.Second)
			},
			status: store.StatusSent, channel: "whatsapp", nextIn: 5 * time.Second,
		},
		{
			name:   "undelivered without the undelivered trigger: failed",
			pol:    otpPolicy(config.TriggerError),
			edit:   sentAgo(10*time.Second, store.AttemptUndelivered),
			status: store.StatusFailed, channel: "whatsapp", nextIn: notDue,
			attempts: []step{{"whatsapp", store.AttemptUndelivered, reason.None}},
			lastErr:  "whatsapp reported the message undelivered: 63016",
		},
		{
			name:   "deadline passed without the no_receipt trigger: waits for a receipt, no deadline",
			pol:    otpPolicy(config.TriggerError),
			edit:   sentAgo(31*time.Second, store.AttemptSent),
			status: store.StatusSent, channel: "whatsapp", nextIn: notDue,
		},
		{
			name:   "deadline passed and the rest of the route is down: route exhausted",
			health: fakeHealth{"sms": health.Down, "email": health.Down},
			edit:   sentAgo(31*time.Second, store.AttemptSent),
			status: store.StatusFailed, channel: "whatsapp", step: 3, nextIn: notDue,
			attempts: []step{{"whatsapp", store.AttemptSent, reason.NoReceipt}, {"sms", store.AttemptSkipped, reason.Unhealthy}, {"email", store.AttemptSkipped, reason.Unhealthy}},
			lastErr:  "route exhausted: whatsapp: no delivered receipt within 30s",
		},
		// walk the route: channels left out
		{
			name:   "disabled channel without the unhealthy trigger: waits",
			pol:    otpPolicy(config.TriggerError),
			health: fakeHealth{"whatsapp": health.Disabled},
			status: store.StatusSending, nextIn: waitRetry,
		},
		{
			name:    "open breaker without the breaker_open trigger: waits",
			pol:     otpPolicy(config.TriggerError),
			scripts: map[string][]outcome{"whatsapp": {transient}},
			prep:    openBreaker,
			status:  store.StatusSending, nextIn: waitRetry,
		},
		{
			name:    "open breaker: skipped, no provider call",
			scripts: map[string][]outcome{"whatsapp": {transient}},
			prep:    openBreaker,
			status:  store.StatusSent, step: 1, channel: "sms", nextIn: 10 * time.Minute, calls: 1,
			attempts: []step{{"whatsapp", store.AttemptSkipped, reason.BreakerOpen}, {"sms", store.AttemptSent, reason.None}},
		},
		{
			name:   "provider asked to slow down: waits for the pause, not a failover",
			prep:   func(tb *testBundle) { tb.d.Router().Lane("whatsapp").pause(tb.now, 7*time.Second) },
			status: store.StatusSending, nextIn: 7 * time.Second,
		},
		{
			name:   "a wait is capped at the ttl",
			prep:   func(tb *testBundle) { tb.d.Router().Lane("whatsapp").pause(tb.now, 7*time.Second) },
			edit:   func(m *store.Message, tb *testBundle) { m.ExpiresAt = tb.now.Add(3 * time.Second) },
			status: store.StatusSending, nextIn: 3 * time.Second,
		},
		{
			name:   "channel no longer configured: skipped",
			edit:   func(m *store.Message, _ *testBundle) { m.Route = []string{"fax", "sms"} },
			status: store.StatusSent, step: 1, channel: "sms", nextIn: 10 * time.Minute, calls: 1,
			attempts: []step{{"fax", store.AttemptSkipped, reason.UnknownChannel}, {"sms", store.AttemptSent, reason.None}},
		},
		{
			name:   "no channel has an address: route exhausted",
			edit:   func(m *store.Message, _ *testBundle) { m.To = store.Recipient{Telegram: "12345"} },
			status: store.StatusFailed, step: 3, nextIn: notDue,
			attempts: []step{{"whatsapp", store.AttemptSkipped, reason.NoAddress}, {"sms", store.AttemptSkipped, reason.NoAddress}, {"email", store.AttemptSkipped, reason.NoAddress}},
			lastErr:  "route exhausted: no channel in the route could take the message (see attempts)",
		},
		// walk the route: sends
		{
			name:   "shutting down: no send, due at once for the next process",
			prep:   func(tb *testBundle) { tb.d.stopping.Store(true) },
			status: store.StatusSending, nextIn: 0,
		},
		{
			name:   "lease not confirmed: no send, due at once",
			prep:   func(tb *testBundle) { tb.d.hold("m1", tb.now) },
			status: store.StatusQueued, nextIn: 0,
		},
		{
			name:    "delivered at once: final",
			scripts: map[string][]outcome{"whatsapp": {delivered}},
			status:  store.StatusDelivered, channel: "whatsapp", nextIn: notDue, calls: 1,
			attempts: []step{{"whatsapp", store.AttemptDelivered, reason.None}},
		},
		{
			name: "ambiguous with on_ambiguous assume_sent: sent, judged by the receipt deadline",
			pol: func() *config.Policy {
				p := otpPolicy()
				p.OnAmbiguous = config.AmbiguousAssumeSent
				return p
			}(),
			scripts: map[string][]outcome{"whatsapp": {ambiguous}},
			status:  store.StatusSent, channel: "whatsapp", nextIn: 30 * time.Second, calls: 1,
			attempts: []step{{"whatsapp", store.AttemptSent, reason.None}},
		},
		{
			name:    "ambiguous: fails over (trigger error)",
			scripts: map[string][]outcome{"whatsapp": {ambiguous}},
			status:  store.StatusSent, step: 1, channel: "sms", nextIn: 10 * time.Minute, calls: 2,
			attempts: []step{{"whatsapp", store.AttemptFailed, reason.Error}, {"sms", store.AttemptSent, reason.None}},
		},
		{
			name:    "transient with the budget spent and no error trigger: failed",
			pol:     otpPolicy(config.TriggerNoReceipt),
			scripts: map[string][]outcome{"whatsapp": {transient}},
			edit:    func(m *store.Message, _ *testBundle) { m.Tries = 2; m.Status = store.StatusSending },
			status:  store.StatusFailed, step: 0, nextIn: notDue, calls: 1,
			attempts: []step{{"whatsapp", store.AttemptFailed, reason.None}},
			lastErr:  "whatsapp: 503 from provider (transient)",
		},
		{
			name:    "transient retry is capped at the ttl",
			scripts: map[string][]outcome{"whatsapp": {transient}},
			edit:    func(m *store.Message, tb *testBundle) { m.ExpiresAt = tb.now.Add(100 * time.Millisecond) },
			status:  store.StatusSending, nextIn: 100 * time.Millisecond, calls: 1,
			attempts: []step{{"whatsapp", store.AttemptFailed, reason.None}},
		},
		{
			name:    "policy removed by a reload: fails over on every trigger",
			scripts: map[string][]outcome{"whatsapp": {permanent}},
			edit:    func(m *store.Message, _ *testBundle) { m.Policy = "removed" },
			status:  store.StatusSent, step: 1, channel: "sms", nextIn: 10 * time.Minute, calls: 2,
			attempts: []step{{"whatsapp", store.AttemptFailed, reason.Error}, {"sms", store.AttemptSent, reason.None}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pol := tt.pol
			if pol == nil {
				pol = otpPolicy()
			}
			h := tt.health
			if h == nil {
				h = fakeHealth{}
			}
			tb := setup(t, pol, h, tt.scripts)
			if tt.prep != nil {
				tt.prep(tb)
			}
			m := message(tb)
			if tt.edit != nil {
				tt.edit(m, tb)
			}
			tr := tb.d.step(context.Background(), m)
			require.Equal(t, tt.status, tr.Status, "status (last error %q)", tr.LastError)
			require.Equal(t, tt.step, tr.Step, "step")
			require.Equal(t, tt.channel, tr.Channel, "channel")
			if tt.nextIn == notDue {
				require.True(t, tr.NextAt.IsZero(), "next at %v, want not due", tr.NextAt)
			} else {
				require.True(t, tb.now.Add(tt.nextIn).Equal(tr.NextAt), "next at %v, want now+%v", tr.NextAt, tt.nextIn)
			}
			var got []step
			for _, a := range tr.Attempts {
				got = append(got, step{a.Channel, a.Status, a.Reason})
			}
			require.Equal(t, tt.attempts, got, "attempts")
			calls := 0
			for _, c := range tb.chans {
				calls += c.Calls()
			}
			require.Equal(t, tt.calls, calls, "provider calls")
			if tt.lastErr != "" {
				require.Equal(t, tt.lastErr, tr.LastError)
			}
		})
	}
}
