package routing

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/health"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// suppressionStore is the part of a store the opt-out steps use: a fixed
// list, the lookups made, and the entries the step added.
type suppressionStore struct {
	store.Store // nil: any other call panics
	mu          sync.Mutex
	list        []store.Suppression
	lookupErr   error
	lookups     int
	added       []store.Suppression
}

func (f *suppressionStore) SuppressionsFor(_ context.Context, to store.Recipient) ([]store.Suppression, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.lookupErr != nil {
		return nil, f.lookupErr
	}
	return store.Matching(append([]store.Suppression(nil), f.list...), to.SuppressionKeys()), nil
}

func (f *suppressionStore) Suppress(_ context.Context, s store.Suppression) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added = append(f.added, s)
	return nil
}

func optedOutAt(kind, addr string) store.Suppression {
	return store.Suppression{Address: addr, Kind: kind, Reason: "STOP", Source: store.SourceInbound,
		CreatedAt: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)}
}

// TestStepOptedOut: a channel whose kind the recipient opted out of is
// skipped with opted_out whatever failover_on says (never waited for), the
// route moves on, and a route with nothing left fails with opted_out. A
// provider's "opted out" refusal puts the recipient on the list and moves
// on the same way, without counting against the channel's breaker.
func TestStepOptedOut(t *testing.T) {
	t.Parallel()
	const phone = "+15551234567" // message()'s phone and whatsapp
	unsubscribed := outcome{err: &channels.Error{Class: channels.Permanent, Code: "21610", OptedOut: true,
		Err: errors.New("twilio: create message: recipient unsubscribed (replied STOP)")}}
	type step struct {
		channel string
		status  store.AttemptStatus
		reason  reason.Reason
	}
	tests := []struct {
		name      string
		pol       *config.Policy
		health    fakeHealth
		list      []store.Suppression
		lookupErr error
		scripts   map[string][]outcome
		edit      func(m *store.Message)

		status   store.Status
		channel  string
		attempts []step
		calls    int
		lastErr  string
		added    []store.Suppression // what the step put on the list
	}{
		{
			name:   "nobody opted out: first channel",
			status: store.StatusSent, channel: "whatsapp", calls: 1,
			attempts: []step{{"whatsapp", store.AttemptSent, reason.None}},
		},
		{
			name:   "opted out of whatsapp: skipped, sms takes it",
			list:   []store.Suppression{optedOutAt("whatsapp", phone)},
			status: store.StatusSent, channel: "sms", calls: 1,
			attempts: []step{{"whatsapp", store.AttemptSkipped, reason.OptedOut}, {"sms", store.AttemptSent, reason.None}},
		},
		{
			name:   "an sms opt-out does not stop whatsapp on the same number",
			list:   []store.Suppression{optedOutAt("sms", phone)},
			status: store.StatusSent, channel: "whatsapp", calls: 1,
			attempts: []step{{"whatsapp", store.AttemptSent, reason.None}},
		},
		{
			name:   "opted out of a channel the policy would wait for: skipped, not waited for",
			pol:    otpPolicy(config.TriggerError),
			health: fakeHealth{"whatsapp": health.Down},
			list:   []store.Suppression{optedOutAt("whatsapp", phone)},
			status: store.StatusSent, channel: "sms", calls: 1,
			attempts: []step{{"whatsapp", store.AttemptSkipped, reason.OptedOut}, {"sms", store.AttemptSent, reason.None}},
		},
		{
			name:     "opted out of every channel: failed with opted_out, no provider call",
			list:     []store.Suppression{optedOutAt("whatsapp", phone), optedOutAt("sms", phone), optedOutAt("email", "ana@example.com")},
			status:   store.StatusFailed,
			attempts: []step{{"whatsapp", store.AttemptSkipped, reason.OptedOut}, {"sms", store.AttemptSkipped, reason.OptedOut}, {"email", store.AttemptSkipped, reason.OptedOut}},
			lastErr:  "opted_out: the recipient opted out of whatsapp, sms, email and no other channel of the route could take the message",
		},
		{
			name:     "opted out, and no address for the rest: failed with opted_out",
			list:     []store.Suppression{optedOutAt("whatsapp", phone)},
			edit:     func(m *store.Message) { m.To = store.Recipient{WhatsApp: phone} },
			status:   store.StatusFailed,
			attempts: []step{{"whatsapp", store.AttemptSkipped, reason.OptedOut}, {"sms", store.AttemptSkipped, reason.NoAddress}, {"email", store.AttemptSkipped, reason.NoAddress}},
			lastErr:  "opted_out: the recipient opted out of whatsapp and no other channel of the route could take the message",
		},
		{
			name:    "the provider says they opted out: suppressed, and the route moves on",
			scripts: map[string][]outcome{"whatsapp": {unsubscribed}},
			status:  store.StatusSent, channel: "sms", calls: 2,
			attempts: []step{{"whatsapp", store.AttemptFailed, reason.OptedOut}, {"sms", store.AttemptSent, reason.None}},
			added:    []store.Suppression{{Address: phone, Kind: "whatsapp", Reason: "21610", Source: store.SourceProvider}},
		},
		{
			name:    "the provider says they opted out, policy without the error trigger: still moves on",
			pol:     otpPolicy(config.TriggerNoReceipt),
			scripts: map[string][]outcome{"whatsapp": {unsubscribed}},
			status:  store.StatusSent, channel: "sms", calls: 2,
			attempts: []step{{"whatsapp", store.AttemptFailed, reason.OptedOut}, {"sms", store.AttemptSent, reason.None}},
			added:    []store.Suppression{{Address: phone, Kind: "whatsapp", Reason: "21610", Source: store.SourceProvider}},
		},
		{
			name:    "the provider says they opted out on the last channel: failed with opted_out",
			edit:    func(m *store.Message) { m.Route = []string{"whatsapp"} },
			scripts: map[string][]outcome{"whatsapp": {unsubscribed}},
			status:  store.StatusFailed, calls: 1,
			attempts: []step{{"whatsapp", store.AttemptFailed, reason.OptedOut}},
			lastErr:  "opted_out: the recipient opted out of whatsapp and no other channel of the route could take the message",
			added:    []store.Suppression{{Address: phone, Kind: "whatsapp", Reason: "21610", Source: store.SourceProvider}},
		},
		{
			name:      "the list cannot be read: no send, the message waits",
			lookupErr: store.ErrUnavailable,
			status:    store.StatusSending,
			lastErr:   "could not read the suppression list: store unavailable",
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
			fs := &suppressionStore{list: tt.list, lookupErr: tt.lookupErr}
			tb.d.store = fs
			m := message(tb)
			if tt.edit != nil {
				tt.edit(m)
			}
			tr := tb.d.step(context.Background(), m)
			require.Equal(t, tt.status, tr.Status, "status (last error %q)", tr.LastError)
			require.Equal(t, tt.channel, tr.Channel, "channel")
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
			if tt.status == store.StatusSending {
				require.Equal(t, tb.now.Add(waitRetry), tr.NextAt, "looked at again shortly")
			}
			require.Equal(t, 1, fs.lookups, "one lookup per step")
			for i := range fs.added {
				require.False(t, fs.added[i].CreatedAt.IsZero())
				fs.added[i].CreatedAt = time.Time{}
			}
			require.Equal(t, tt.added, fs.added, "entries the step added")
			for _, a := range tr.Attempts {
				if a.Reason == reason.OptedOut && a.Status == store.AttemptSkipped {
					require.Equal(t, "STOP, inbound, since 2026-11-01T09:00:00Z", a.Error, "the attempt says which entry stopped it")
				}
			}
			require.Zero(t, tb.d.Router().Lane("whatsapp").BreakerCounts().TotalFailures, "an opt-out never counts against the breaker")
		})
	}
}
