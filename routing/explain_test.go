package routing

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/health"
	"github.com/switchboard-gw/switchboard/store"
)

func TestExplainWithAssumeDown(t *testing.T) {
	t.Parallel()
	to := store.Recipient{WhatsApp: "+15551234567", Phone: "+15551234567", Email: "ana@example.com"}
	tests := []struct {
		name       string
		health     Health
		policy     *config.Policy
		assumeDown []string
		want       []string // reason per route entry
		channel    string
	}{
		{name: "no assumption", policy: otpPolicy(), want: []string{"ok", "ok", "ok"}, channel: "whatsapp"},
		{name: "whatsapp down", policy: otpPolicy(), assumeDown: []string{"whatsapp"}, want: []string{"unhealthy", "ok", "ok"}, channel: "sms"},
		{name: "everything down", policy: otpPolicy(), assumeDown: []string{"whatsapp", "sms", "email"}, want: []string{"unhealthy", "unhealthy", "unhealthy"}},
		{
			name: "a policy that does not fail over on unhealthy waits", assumeDown: []string{"whatsapp"},
			policy: otpPolicy(config.TriggerError), want: []string{"wait_unhealthy", "ok", "ok"},
		},
		{
			name: "the live view still counts for the others", health: fakeHealth{"sms": health.Disabled},
			policy: otpPolicy(), assumeDown: []string{"whatsapp"}, want: []string{"unhealthy", "disabled", "ok"}, channel: "email",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, tt.policy, tt.health, nil)
			exp, err := tb.d.Router().ExplainMessage("otp", &config.MatchInput{}, to, tt.assumeDown)
			require.NoError(t, err)
			var got []string
			for _, d := range exp.Channels {
				got = append(got, d.Reason.String())
			}
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.channel, exp.Channel)
			// The what-if never leaks into the live router.
			require.Equal(t, "ok", tb.d.Router().Explain(tt.policy, to)[0].Reason.String())
		})
	}

	tb := setup(t, otpPolicy(), nil, nil)
	_, err := tb.d.Router().ExplainWith(otpPolicy(), to, []string{"fax"})
	require.ErrorIs(t, err, ErrUnknownChannel)
	require.ErrorContains(t, err, `"fax"`)
}

// A reload that removes a channel swaps the router; a message whose stored
// route still names it (here: waiting in backoff after a failed try on
// whatsapp) skips it as unknown_channel on its next attempt and moves on.
func TestRemovedChannelIsSkippedAfterReload(t *testing.T) {
	t.Parallel()
	tb := setup(t, otpPolicy(), nil, map[string][]outcome{"whatsapp": {transient}})
	m := message(tb)
	tr := tb.d.step(t.Context(), m)
	require.Equal(t, 0, tr.Step, "first try failed; the message waits in backoff on whatsapp")
	require.Equal(t, 1, tr.Tries)

	// The reload: whatsapp is gone, otp routes sms then email.
	r := tb.d.Router()
	pol := &config.Policy{Name: "otp", Route: []string{"sms", "email"}, FailoverOn: config.AllTriggers}
	next, err := NewRouter([]*config.Policy{pol}, []*Lane{r.Lane("sms"), r.Lane("email")}, nil)
	require.NoError(t, err)
	tb.d.SetRouter(next)

	m.Step, m.Tries, m.Attempts, m.Status = tr.Step, tr.Tries, len(tr.Attempts), tr.Status
	tb.now = tb.now.Add(10 * time.Second)
	tr = tb.d.step(t.Context(), m)
	require.Len(t, tr.Attempts, 2)
	skipped := tr.Attempts[0]
	require.Equal(t, "whatsapp", skipped.Channel)
	require.Equal(t, store.AttemptSkipped, skipped.Status)
	require.Equal(t, "unknown_channel", skipped.Reason.String())
	require.Equal(t, "the channel is no longer configured", skipped.Error)
	require.Equal(t, "sms", tr.Attempts[1].Channel)
	require.Equal(t, store.AttemptSent, tr.Attempts[1].Status)
	require.Equal(t, "sms", tr.Channel)
	require.Equal(t, 1, tb.chans["whatsapp"].Calls(), "the removed channel is not called again")
}

// Every in/out reason Explain can give for the first channel of a route,
// and the IN/OUT it implies. "silent" is covered with the receipt breaker
// (TestSilentChannelFailover), where a
// channel can go silent.
func TestExplainEveryReason(t *testing.T) {
	t.Parallel()
	to := store.Recipient{WhatsApp: "+15551234567", Phone: "+15551234567", Email: "ana@example.com"}
	openBreaker := func(tb *testBundle) {
		for range 2 { // breaker failures: 2
			tb.d.step(t.Context(), message(tb))
		}
		require.Equal(t, "open", tb.d.Router().Lane("whatsapp").BreakerState())
	}
	tests := []struct {
		reason   string
		use      bool
		health   Health
		triggers []config.Trigger
		scripts  map[string][]outcome
		route    []string
		to       *store.Recipient
		prep     func(*testBundle)
	}{
		{reason: "ok", use: true},
		{reason: "no_address", to: &store.Recipient{Phone: "+15551234567"}},
		{reason: "unknown_channel", route: []string{"fax", "sms"}},
		{reason: "disabled", health: fakeHealth{"whatsapp": health.Disabled}},
		{reason: "wait_disabled", health: fakeHealth{"whatsapp": health.Disabled}, triggers: []config.Trigger{config.TriggerError}},
		{reason: "unhealthy", health: fakeHealth{"whatsapp": health.Down}},
		{reason: "wait_unhealthy", health: fakeHealth{"whatsapp": health.Down}, triggers: []config.Trigger{config.TriggerError}},
		{reason: "breaker_open", scripts: map[string][]outcome{"whatsapp": {transient}}, prep: openBreaker},
		{reason: "wait_breaker", scripts: map[string][]outcome{"whatsapp": {transient}}, prep: openBreaker, triggers: []config.Trigger{config.TriggerError}},
		{reason: "wait_rate_limited", prep: func(tb *testBundle) { tb.d.Router().Lane("whatsapp").pause(time.Now(), time.Hour) }},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			t.Parallel()
			pol := otpPolicy(tt.triggers...)
			tb := setup(t, pol, tt.health, tt.scripts)
			if tt.prep != nil {
				tt.prep(tb)
			}
			if tt.route != nil {
				pol = &config.Policy{Name: "otp", Route: tt.route, FailoverOn: pol.FailoverOn}
			}
			rcpt := to
			if tt.to != nil {
				rcpt = *tt.to
			}
			d := tb.d.Router().Explain(pol, rcpt)[0]
			require.Equal(t, tt.reason, d.Reason.String())
			require.Equal(t, tt.use, d.Use)
			if tt.reason != "ok" {
				require.NotEmpty(t, d.Detail, "an out channel says why")
			}
			// In words, from the reason's own sentence (not the fallback
			// for a reason without words), naming the channel.
			require.True(t, d.Reason.Known(), d.Reason)
			require.True(t, strings.HasPrefix(d.Sentence, d.Channel), d.Sentence)
			require.NotContains(t, d.Sentence, "was left (")
		})
	}
}

// bySender is a channel with senders for some destination countries only,
// as Twilio's senders and WhatsApp Cloud's phone_number_ids are.
type bySender struct {
	*scripted
	has map[string]bool // address -> has a sender
}

func (b bySender) CheckSender(to string) error {
	if b.has[to] {
		return nil
	}
	return channels.Classify(channels.Misconfigured, &channels.NoSenderError{Country: "GB", Key: "senders"})
}

// A channel with no sender for the recipient's country is out of an
// explanation with the error its send would fail with: the route moves
// on where the policy fails over on error, and ends there where it does
// not, as the dispatcher does.
func TestExplainNoSenderForTheCountry(t *testing.T) {
	t.Parallel()
	const us, gb = "+15551234567", "+447700900123"
	for _, tc := range []struct {
		name    string
		phone   string
		pol     *config.Policy
		sms     string // sms's reason
		channel string // where the message would go
	}{
		{name: "a sender for the country", phone: us, pol: otpPolicy(), sms: "ok", channel: "sms"},
		{name: "none, fails over on error", phone: gb, pol: otpPolicy(), sms: "error", channel: "email"},
		{name: "none, no failover on error", phone: gb, pol: otpPolicy(config.TriggerUnhealthy), sms: "error", channel: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sms := bySender{scripted: &scripted{name: "sms", kind: channels.SMS, out: []outcome{ok}}, has: map[string]bool{us: true}}
			email := &scripted{name: "email", kind: channels.Email, out: []outcome{ok}}
			pol := *tc.pol
			pol.Route = []string{"sms", "email"}
			r, err := NewRouter([]*config.Policy{&pol}, []*Lane{NewLane(sms, chanConfig("sms"), nil), NewLane(email, chanConfig("email"), nil)}, nil)
			require.NoError(t, err)
			exp, err := r.ExplainMessage("otp", &config.MatchInput{}, store.Recipient{Phone: tc.phone, Email: "ana@example.com"}, nil)
			require.NoError(t, err)
			d := exp.Channels[0]
			require.Equal(t, tc.sms, d.Reason.String())
			require.Equal(t, tc.channel, exp.Channel)
			if tc.sms == "error" {
				require.False(t, d.Use)
				require.Equal(t, `sms is misconfigured on our side: no sender for GB: senders has neither GB nor "default"`, d.Sentence)
			}
		})
	}
}
