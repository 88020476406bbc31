package routing

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// readPolicy waits 10 minutes for a read on whatsapp, with triggers.
func readPolicy(triggers ...config.Trigger) *config.Policy {
	p := otpPolicy(triggers...)
	p.ReadTimeout = map[string]config.Duration{"whatsapp": config.Duration(10 * time.Minute)}
	return p
}

// TestStepReadTimeout: the transitions of a message claimed delivered,
// waiting for its read receipt (judgeRead), and of a send the provider
// answers delivered at once (awaitRead). A read in time or a late read
// never reaches the dispatcher: the store decides those (see
// store.TestDecideReceipt and storetest's ReadWait).
func TestStepReadTimeout(t *testing.T) {
	t.Parallel()
	withNoRead := append(append([]config.Trigger{}, config.AllTriggers...), config.TriggerNoRead)
	// deliveredAgo: the message was delivered on whatsapp ago, and is
	// claimed now (its read deadline, or the TTL, came).
	deliveredAgo := func(ago time.Duration) func(m *store.Message, tb *testBundle) {
		return func(m *store.Message, tb *testBundle) {
			m.Status, m.Channel, m.Attempts, m.ExpiresAt = store.StatusDelivered, "whatsapp", 1, tb.now.Add(time.Hour)
			m.Current = &store.Attempt{MessageID: "m1", Seq: 1, Channel: "whatsapp", Status: store.AttemptDelivered,
				ProviderID: "p-0", StartedAt: tb.now.Add(-ago - time.Second), DeliveredAt: tb.now.Add(-ago)}
		}
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
		scripts map[string][]outcome
		edit    func(m *store.Message, tb *testBundle)

		status   store.Status
		step     int
		channel  string
		nextIn   time.Duration // notDue: not due
		attempts []step
		calls    int
		lastErr  string
	}{
		{
			name:   "delivered, no read by the deadline: sms with no_read, the status is sms's",
			pol:    readPolicy(withNoRead...),
			edit:   deliveredAgo(10 * time.Minute),
			status: store.StatusSent, step: 1, channel: "sms", nextIn: time.Hour, calls: 1, // sms: no receipt deadline, the ttl
			attempts: []step{{"whatsapp", store.AttemptDelivered, reason.NoRead}, {"sms", store.AttemptSent, reason.None}},
		},
		{
			name:   "claimed before the read deadline: stays delivered, due at it",
			pol:    readPolicy(withNoRead...),
			edit:   deliveredAgo(4 * time.Minute),
			status: store.StatusDelivered, channel: "whatsapp", nextIn: 6 * time.Minute,
		},
		{
			name: "ttl before the read deadline: stays delivered, not due",
			pol:  readPolicy(withNoRead...),
			edit: func(m *store.Message, tb *testBundle) {
				deliveredAgo(10*time.Minute)(m, tb)
				m.ExpiresAt = tb.now
			},
			status: store.StatusDelivered, channel: "whatsapp", nextIn: notDue,
		},
		{
			name:   "no_read not in failover_on: stays delivered, not due",
			pol:    readPolicy(config.AllTriggers...),
			edit:   deliveredAgo(10 * time.Minute),
			status: store.StatusDelivered, channel: "whatsapp", nextIn: notDue,
		},
		{
			name: "the last channel of the route: stays delivered",
			pol:  readPolicy(withNoRead...),
			edit: func(m *store.Message, tb *testBundle) {
				deliveredAgo(10*time.Minute)(m, tb)
				m.Route = []string{"whatsapp"}
			},
			status: store.StatusDelivered, channel: "whatsapp", nextIn: notDue,
		},
		{
			name: "read meanwhile (the current attempt is read): stays, not due",
			pol:  readPolicy(withNoRead...),
			edit: func(m *store.Message, tb *testBundle) {
				deliveredAgo(10*time.Minute)(m, tb)
				m.Current.Status = store.AttemptRead
			},
			status: store.StatusDelivered, channel: "whatsapp", nextIn: notDue,
		},
		{
			name:    "no read and sms fails for good: the next channel's outcome",
			pol:     readPolicy(withNoRead...),
			scripts: map[string][]outcome{"sms": {permanent}, "email": {permanent}},
			edit:    deliveredAgo(11 * time.Minute),
			status:  store.StatusFailed, step: 3, channel: "whatsapp", nextIn: notDue, calls: 2,
			attempts: []step{{"whatsapp", store.AttemptDelivered, reason.NoRead},
				{"sms", store.AttemptFailed, reason.Error}, {"email", store.AttemptFailed, reason.Error}},
			lastErr: "route exhausted: email: invalid recipient (permanent)",
		},
		{
			name:    "delivered at once by the provider: due at the read deadline",
			pol:     readPolicy(withNoRead...),
			scripts: map[string][]outcome{"whatsapp": {{res: channels.Result{ProviderID: "p-1", Delivered: true}}}},
			status:  store.StatusDelivered, channel: "whatsapp", nextIn: 10 * time.Minute, calls: 1,
			attempts: []step{{"whatsapp", store.AttemptDelivered, reason.None}},
		},
		{
			name:    "delivered at once without no_read: final",
			pol:     readPolicy(config.AllTriggers...),
			scripts: map[string][]outcome{"whatsapp": {{res: channels.Result{ProviderID: "p-1", Delivered: true}}}},
			status:  store.StatusDelivered, channel: "whatsapp", nextIn: notDue, calls: 1,
			attempts: []step{{"whatsapp", store.AttemptDelivered, reason.None}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, tt.pol, fakeHealth{}, tt.scripts)
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
			if m.Status == store.StatusDelivered || (tt.status == store.StatusDelivered && tt.nextIn != notDue) {
				require.True(t, tr.ReadWait, "a read wait transition: the store keeps the deadline and lets the status drop")
			}
		})
	}
}

// TestReadTimeoutsByChannel: the read timeouts a delivered receipt carries
// are those of the policies with the channel in their route that fail over
// on no_read, keyed by policy, for the channel's kind.
func TestReadTimeoutsByChannel(t *testing.T) {
	t.Parallel()
	withNoRead := append(append([]config.Trigger{}, config.AllTriggers...), config.TriggerNoRead)
	marketing := readPolicy(withNoRead...)
	marketing.Name = "marketing"
	ignored := readPolicy(config.AllTriggers...) // no no_read: waits for nothing
	ignored.Name = "ignored"
	tb := setup(t, otpPolicy(), fakeHealth{}, nil)
	r, err := NewRouter([]*config.Policy{marketing, ignored}, tb.d.Router().Lanes(), fakeHealth{})
	require.NoError(t, err)
	require.Equal(t, map[string]time.Duration{"marketing": 10 * time.Minute}, r.ReadTimeouts("whatsapp"))
	require.Nil(t, r.ReadTimeouts("sms"))

	rc := &Receipts{Router: func() *Router { return r }}
	for _, tc := range []struct {
		status store.AttemptStatus
		want   map[string]time.Duration
	}{
		{store.AttemptDelivered, map[string]time.Duration{"marketing": 10 * time.Minute}},
		{store.AttemptRead, nil},
		{store.AttemptSent, nil},
	} {
		p := store.ReceiptParams{Channel: "whatsapp", Status: tc.status}
		rc.withReadTimeouts(&p)
		require.Equal(t, tc.want, p.ReadTimeouts, "%s", tc.status)
	}
}
