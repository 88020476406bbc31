package routing

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/health"
	"github.com/switchboard-gw/switchboard/store"
)

// scripted is a channel whose sends return a scripted sequence of outcomes;
// the last outcome repeats.
type scripted struct {
	name string
	kind channels.Kind

	mu    sync.Mutex
	out   []outcome
	calls int
}

type outcome struct {
	res channels.Result
	err error
}

func (s *scripted) Name() string                { return s.name }
func (s *scripted) Kind() channels.Kind         { return s.kind }
func (s *scripted) Probe(context.Context) error { return nil }
func (s *scripted) Send(ctx context.Context, _ *channels.Message) (channels.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	o := s.out[min(s.calls, len(s.out))-1]
	if o.err == errHang {
		s.mu.Unlock()
		<-ctx.Done()
		s.mu.Lock()
		return channels.Result{}, ctx.Err()
	}
	return o.res, o.err
}

func (s *scripted) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

var errHang = errors.New("hang")

var (
	ok        = outcome{res: channels.Result{ProviderID: "p-1"}}
	transient = outcome{err: channels.Classify(channels.Transient, errors.New("503 from provider"))}
	permanent = outcome{err: channels.Classify(channels.Permanent, errors.New("invalid recipient"))}
	misconfig = outcome{err: channels.Classify(channels.Misconfigured, errors.New("401 bad credentials"))}
	limited   = outcome{err: &channels.Error{Class: channels.RateLimited, RetryAfter: 7 * time.Second, Err: errors.New("429")}}
	hang      = outcome{err: errHang}
)

// fakeHealth reports the listed channels as not usable.
type fakeHealth map[string]health.State

func (f fakeHealth) Usable(name string) (bool, health.State, string) {
	if st, ok := f[name]; ok {
		return false, st, "probe failed: connection refused"
	}
	return true, health.Healthy, ""
}

type testBundle struct {
	d     *Dispatcher
	chans map[string]*scripted
	now   time.Time
}

func chanConfig(name string) *config.Channel {
	return &config.Channel{
		Name: name, Type: "scripted", SendTimeout: config.Duration(50 * time.Millisecond),
		Retry:   config.Retry{Attempts: 3, Backoff: config.Duration(time.Second), MaxBackoff: config.Duration(10 * time.Second)},
		Breaker: config.Breaker{Failures: 2, OpenFor: config.Duration(time.Minute), HalfOpenRequests: 1},
	}
}

func setup(t *testing.T, pol *config.Policy, h Health, scripts map[string][]outcome) *testBundle {
	t.Helper()
	kinds := map[string]channels.Kind{"whatsapp": channels.WhatsApp, "sms": channels.SMS, "email": channels.Email, "telegram": channels.Telegram}
	tb := &testBundle{chans: map[string]*scripted{}, now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	var lanes []*Lane
	for _, name := range []string{"whatsapp", "sms", "email", "telegram"} {
		out := scripts[name]
		if out == nil {
			out = []outcome{ok}
		}
		ch := &scripted{name: name, kind: kinds[name], out: out}
		tb.chans[name] = ch
		lanes = append(lanes, NewLane(ch, chanConfig(name), nil))
	}
	r, err := NewRouter([]*config.Policy{pol}, lanes, h)
	require.NoError(t, err)
	tb.d = NewDispatcher(nil, r, config.Dispatch{}, DispatcherOptions{Owner: "test", Now: func() time.Time { return tb.now }})
	tb.d.rnd = func() float64 { return 1 } // backoff at its upper bound, deterministic
	return tb
}

func otpPolicy(triggers ...config.Trigger) *config.Policy {
	if triggers == nil {
		triggers = config.AllTriggers
	}
	return &config.Policy{
		Name: "otp", Route: []string{"whatsapp", "sms", "email"}, FailoverOn: triggers,
		ReceiptTimeout: map[string]config.Duration{"whatsapp": config.Duration(30 * time.Second)},
	}
}

func message(tb *testBundle) *store.Message {
	return &store.Message{
		ID: "m1", Policy: "otp", Route: []string{"whatsapp", "sms", "email"},
		To:     store.Recipient{WhatsApp: "+15551234567", Phone: "+15551234567", Email: "ana@example.com"},
		Body:   "Your code is 123456",
		Status: store.StatusQueued, ExpiresAt: tb.now.Add(10 * time.Minute), NextAt: tb.now,
	}
}

func TestStep(t *testing.T) {
	t.Parallel()
	type want struct {
		status   store.Status
		step     int
		tries    int
		channel  string
		nextIn   time.Duration // 0: not due
		attempts []store.Attempt
	}
	tests := []struct {
		name    string
		pol     *config.Policy
		health  fakeHealth
		scripts map[string][]outcome
		edit    func(m *store.Message, tb *testBundle)
		want    want
	}{
		{
			name: "primary accepts and waits for its receipt deadline",
			want: want{status: store.StatusSent, channel: "whatsapp", nextIn: 30 * time.Second,
				attempts: []store.Attempt{{Seq: 1, Channel: "whatsapp", Status: store.AttemptSent, ProviderID: "p-1"}}},
		},
		{
			name:    "transient error within the retry budget backs off on the same channel",
			scripts: map[string][]outcome{"whatsapp": {transient}},
			want: want{status: store.StatusSending, tries: 1, nextIn: time.Second,
				attempts: []store.Attempt{{Seq: 1, Channel: "whatsapp", Status: store.AttemptFailed, ErrorClass: "transient", Error: "503 from provider (transient)"}}},
		},
		{
			name:    "transient error with the budget spent fails over (trigger error)",
			scripts: map[string][]outcome{"whatsapp": {transient}},
			edit:    func(m *store.Message, _ *testBundle) { m.Tries = 2; m.Status = store.StatusSending },
			want: want{status: store.StatusSent, step: 1, channel: "sms", nextIn: 10 * time.Minute,
				attempts: []store.Attempt{
					{Seq: 1, Channel: "whatsapp", Status: store.AttemptFailed, ErrorClass: "transient", Error: "503 from provider (transient)", Reason: "error"},
					{Seq: 2, Step: 1, Channel: "sms", Status: store.AttemptSent, ProviderID: "p-1"},
				}},
		},
		{
			name:    "permanent error fails over at once",
			scripts: map[string][]outcome{"whatsapp": {permanent}},
			want: want{status: store.StatusSent, step: 1, channel: "sms", nextIn: 10 * time.Minute,
				attempts: []store.Attempt{
					{Seq: 1, Channel: "whatsapp", Status: store.AttemptFailed, ErrorClass: "permanent", Error: "invalid recipient (permanent)", Reason: "error"},
					{Seq: 2, Step: 1, Channel: "sms", Status: store.AttemptSent, ProviderID: "p-1"},
				}},
		},
		{
			name:    "misconfigured channel fails over at once",
			scripts: map[string][]outcome{"whatsapp": {misconfig}},
			want: want{status: store.StatusSent, step: 1, channel: "sms", nextIn: 10 * time.Minute,
				attempts: []store.Attempt{
					{Seq: 1, Channel: "whatsapp", Status: store.AttemptFailed, ErrorClass: "misconfigured", Error: "401 bad credentials (misconfigured)", Reason: "error"},
					{Seq: 2, Step: 1, Channel: "sms", Status: store.AttemptSent, ProviderID: "p-1"},
				}},
		},
		{
			name:    "permanent error without the error trigger fails the message",
			pol:     otpPolicy(config.TriggerNoReceipt),
			scripts: map[string][]outcome{"whatsapp": {permanent}},
			want: want{status: store.StatusFailed,
				attempts: []store.Attempt{{Seq: 1, Channel: "whatsapp", Status: store.AttemptFailed, ErrorClass: "permanent", Error: "invalid recipient (permanent)"}}},
		},
		{
			name:    "rate limited waits for Retry-After without using a try",
			scripts: map[string][]outcome{"whatsapp": {limited}},
			want: want{status: store.StatusSending, nextIn: 7 * time.Second,
				attempts: []store.Attempt{{Seq: 1, Channel: "whatsapp", Status: store.AttemptFailed, ErrorClass: "rate_limited", Error: "429 (rate_limited)"}}},
		},
		{
			name:   "unhealthy channel is skipped (trigger unhealthy)",
			health: fakeHealth{"whatsapp": health.Down},
			want: want{status: store.StatusSent, step: 1, channel: "sms", nextIn: 10 * time.Minute,
				attempts: []store.Attempt{
					{Seq: 1, Channel: "whatsapp", Status: store.AttemptSkipped, Reason: "unhealthy", Error: "probe failed: connection refused"},
					{Seq: 2, Step: 1, Channel: "sms", Status: store.AttemptSent, ProviderID: "p-1"},
				}},
		},
		{
			name:   "disabled channel is skipped with reason disabled",
			health: fakeHealth{"whatsapp": health.Disabled},
			want: want{status: store.StatusSent, step: 1, channel: "sms", nextIn: 10 * time.Minute,
				attempts: []store.Attempt{
					{Seq: 1, Channel: "whatsapp", Status: store.AttemptSkipped, Reason: "disabled", Error: "probe failed: connection refused"},
					{Seq: 2, Step: 1, Channel: "sms", Status: store.AttemptSent, ProviderID: "p-1"},
				}},
		},
		{
			name:   "unhealthy channel without the unhealthy trigger makes the message wait",
			pol:    otpPolicy(config.TriggerError),
			health: fakeHealth{"whatsapp": health.Down},
			want:   want{status: store.StatusSending, nextIn: waitRetry},
		},
		{
			name: "no address for a kind is skipped, not failed",
			edit: func(m *store.Message, _ *testBundle) { m.To.WhatsApp = "" },
			want: want{status: store.StatusSent, step: 1, channel: "sms", nextIn: 10 * time.Minute,
				attempts: []store.Attempt{
					{Seq: 1, Channel: "whatsapp", Status: store.AttemptSkipped, Reason: "no_address", Error: "the message has no whatsapp address"},
					{Seq: 2, Step: 1, Channel: "sms", Status: store.AttemptSent, ProviderID: "p-1"},
				}},
		},
		{
			name: "receipt deadline passed: no_receipt fails over",
			edit: func(m *store.Message, tb *testBundle) {
				m.Status, m.Channel, m.Attempts = store.StatusSent, "whatsapp", 1
				m.Current = &store.Attempt{MessageID: "m1", Seq: 1, Channel: "whatsapp", Status: store.AttemptSent, ProviderID: "p-0", StartedAt: tb.now.Add(-30 * time.Second)}
			},
			want: want{status: store.StatusSent, step: 1, channel: "sms", nextIn: 10 * time.Minute,
				attempts: []store.Attempt{
					{Seq: 1, Channel: "whatsapp", Status: store.AttemptSent, ProviderID: "p-0", Reason: "no_receipt"},
					{Seq: 2, Step: 1, Channel: "sms", Status: store.AttemptSent, ProviderID: "p-1"},
				}},
		},
		{
			name: "undelivered receipt fails over (trigger undelivered)",
			edit: func(m *store.Message, tb *testBundle) {
				m.Status, m.Channel, m.Attempts = store.StatusSent, "whatsapp", 1
				m.Current = &store.Attempt{MessageID: "m1", Seq: 1, Channel: "whatsapp", Status: store.AttemptUndelivered, ProviderID: "p-0", Error: "63016"}
			},
			want: want{status: store.StatusSent, step: 1, channel: "sms", nextIn: 10 * time.Minute,
				attempts: []store.Attempt{
					{Seq: 1, Channel: "whatsapp", Status: store.AttemptUndelivered, ProviderID: "p-0", Error: "63016", Reason: "undelivered"},
					{Seq: 2, Step: 1, Channel: "sms", Status: store.AttemptSent, ProviderID: "p-1"},
				}},
		},
		{
			name: "accepted with no receipt deadline waits for a receipt until the ttl",
			pol:  &config.Policy{Name: "otp", Route: []string{"whatsapp", "sms", "email"}, FailoverOn: config.AllTriggers},
			want: want{status: store.StatusSent, channel: "whatsapp", nextIn: 10 * time.Minute,
				attempts: []store.Attempt{{Seq: 1, Channel: "whatsapp", Status: store.AttemptSent, ProviderID: "p-1"}}},
		},
		{
			name: "ttl passed while waiting for a receipt: stays sent, stops waiting",
			edit: func(m *store.Message, tb *testBundle) {
				m.ExpiresAt = tb.now
				m.Status, m.Channel, m.Attempts = store.StatusSent, "whatsapp", 1
				m.Current = &store.Attempt{MessageID: "m1", Seq: 1, Channel: "whatsapp", Status: store.AttemptSent, ProviderID: "p-0"}
			},
			want: want{status: store.StatusSent, channel: "whatsapp",
				attempts: []store.Attempt{{Seq: 1, Channel: "whatsapp", Status: store.AttemptSent, ProviderID: "p-0"}}},
		},
		{
			name: "ttl passed: expired",
			edit: func(m *store.Message, tb *testBundle) { m.ExpiresAt = tb.now },
			want: want{status: store.StatusExpired},
		},
		{
			name:    "every channel fails permanently: route exhausted, failed",
			scripts: map[string][]outcome{"whatsapp": {permanent}, "sms": {permanent}, "email": {permanent}},
			want: want{status: store.StatusFailed, step: 3,
				attempts: []store.Attempt{
					{Seq: 1, Channel: "whatsapp", Status: store.AttemptFailed, ErrorClass: "permanent", Error: "invalid recipient (permanent)", Reason: "error"},
					{Seq: 2, Step: 1, Channel: "sms", Status: store.AttemptFailed, ErrorClass: "permanent", Error: "invalid recipient (permanent)", Reason: "error"},
					{Seq: 3, Step: 2, Channel: "email", Status: store.AttemptFailed, ErrorClass: "permanent", Error: "invalid recipient (permanent)", Reason: "error"},
				}},
		},
		{
			name: "reclaimed message flags its attempt as a possible duplicate",
			edit: func(m *store.Message, _ *testBundle) { m.Reclaimed = true },
			want: want{status: store.StatusSent, channel: "whatsapp", nextIn: 30 * time.Second,
				attempts: []store.Attempt{{Seq: 1, Channel: "whatsapp", Status: store.AttemptSent, ProviderID: "p-1", Ambiguous: true,
					Info: "a previous gateway process stopped mid-send; this may be a duplicate"}}},
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
			m := message(tb)
			if tt.edit != nil {
				tt.edit(m, tb)
			}
			tr := tb.d.step(context.Background(), m)
			require.Equal(t, tt.want.status, tr.Status, "status (last error %q)", tr.LastError)
			require.Equal(t, tt.want.step, tr.Step, "step")
			require.Equal(t, tt.want.tries, tr.Tries, "tries")
			require.Equal(t, tt.want.channel, tr.Channel, "channel")
			if tt.want.nextIn == 0 {
				require.True(t, tr.NextAt.IsZero(), "next at %v, want not due", tr.NextAt)
			} else {
				require.Equal(t, tb.now.Add(tt.want.nextIn), tr.NextAt)
			}
			got := make([]store.Attempt, len(tr.Attempts))
			for i, a := range tr.Attempts {
				a.MessageID, a.StartedAt, a.EndedAt, a.DeliveredAt = "", time.Time{}, time.Time{}, time.Time{}
				got[i] = a
			}
			if tt.want.attempts == nil {
				tt.want.attempts = []store.Attempt{}
			}
			require.Equal(t, tt.want.attempts, got)
		})
	}
}

func TestStepTimeoutIsAmbiguousAndFailsOver(t *testing.T) {
	t.Parallel()
	tb := setup(t, otpPolicy(), fakeHealth{}, map[string][]outcome{"whatsapp": {hang}})
	tr := tb.d.step(context.Background(), message(tb))
	require.Len(t, tr.Attempts, 2)
	require.True(t, tr.Attempts[0].Ambiguous, "a send cut off by our deadline may have reached the provider")
	require.Equal(t, "ambiguous", tr.Attempts[0].ErrorClass)
	require.Equal(t, "error", tr.Attempts[0].Reason.String())
	require.Equal(t, "sms", tr.Channel)
}

func TestBreakerOpensAndSkipsWithoutCalling(t *testing.T) {
	t.Parallel()
	pol := otpPolicy()
	tb := setup(t, pol, fakeHealth{}, map[string][]outcome{"whatsapp": {transient}})
	// The breaker opens after 2 consecutive transient failures.
	for range 2 {
		m := message(tb)
		tb.d.step(context.Background(), m)
	}
	require.Equal(t, "open", tb.d.Router().Lane("whatsapp").BreakerState())
	calls := tb.chans["whatsapp"].Calls()

	tr := tb.d.step(context.Background(), message(tb))
	require.Equal(t, calls, tb.chans["whatsapp"].Calls(), "an open breaker must not call the provider")
	require.Equal(t, store.AttemptSkipped, tr.Attempts[0].Status)
	require.Equal(t, "breaker_open", tr.Attempts[0].Reason.String())
	require.Equal(t, "sms", tr.Channel)

	// Explain agrees with what the dispatcher did.
	dec := tb.d.Router().Explain(pol, message(tb).To)
	require.False(t, dec[0].Use)
	require.Equal(t, "breaker_open", dec[0].Reason.String())
	require.True(t, dec[1].Use)
}

func TestPermanentErrorsDoNotOpenTheBreaker(t *testing.T) {
	t.Parallel()
	tb := setup(t, otpPolicy(), fakeHealth{}, map[string][]outcome{"whatsapp": {permanent}})
	for range 5 {
		tb.d.step(context.Background(), message(tb))
	}
	require.Equal(t, "closed", tb.d.Router().Lane("whatsapp").BreakerState())
}

func TestSelectPolicy(t *testing.T) {
	t.Parallel()
	pols := []*config.Policy{
		{Name: "otp", Match: config.Match{Tags: []string{"otp", "2fa"}}, Route: []string{"sms"}},
		{Name: "alerts", Match: config.Match{Tags: []string{"alert"}}, Route: []string{"sms"}},
		{Name: "default", Route: []string{"sms"}},
	}
	lanes := []*Lane{NewLane(&scripted{name: "sms", kind: channels.SMS, out: []outcome{ok}}, chanConfig("sms"), nil)}
	r, err := NewRouter(pols, lanes, nil)
	require.NoError(t, err)
	tests := []struct {
		name, policy string
		tags         []string
		want         string
		err          error
	}{
		{name: "named", policy: "alerts", tags: []string{"otp"}, want: "alerts"},
		{name: "by tag", tags: []string{"x", "2fa"}, want: "otp"},
		{name: "first matching policy wins", tags: []string{"alert", "otp"}, want: "otp"},
		{name: "default", tags: []string{"x"}, want: "default"},
		{name: "unknown", policy: "nope", err: ErrUnknownPolicy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := r.SelectPolicy(tt.policy, &config.MatchInput{Tags: tt.tags})
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, p.Name)
		})
	}
	r2, err := NewRouter(pols[:1], lanes, nil)
	require.NoError(t, err)
	_, err = r2.SelectPolicy("", &config.MatchInput{})
	require.ErrorIs(t, err, ErrNoPolicy)
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	t.Parallel()
	cfg := config.Retry{Backoff: config.Duration(time.Second), MaxBackoff: config.Duration(5 * time.Second)}
	one := func() float64 { return 1 }
	zero := func() float64 { return 0 }
	require.Equal(t, time.Second, backoff(cfg, 1, one))
	require.Equal(t, 2*time.Second, backoff(cfg, 2, one))
	require.Equal(t, 4*time.Second, backoff(cfg, 3, one))
	require.Equal(t, 5*time.Second, backoff(cfg, 10, one))
	require.Equal(t, 2500*time.Millisecond, backoff(cfg, 10, zero), "jitter keeps at least half")
}

func TestRetryAfterPausesTheWholeChannel(t *testing.T) {
	t.Parallel()
	tb := setup(t, otpPolicy(), fakeHealth{}, map[string][]outcome{"whatsapp": {limited, ok}})
	tr := tb.d.step(context.Background(), message(tb))
	require.Equal(t, "rate_limited", tr.Attempts[0].ErrorClass)
	require.Equal(t, tb.now.Add(7*time.Second), tr.NextAt)

	// Another message for the same channel waits too, without calling it
	// and without failing over.
	tr = tb.d.step(context.Background(), message(tb))
	require.Empty(t, tr.Attempts)
	require.Equal(t, 0, tr.Step)
	require.True(t, tb.now.Add(7*time.Second).Equal(tr.NextAt), "next at %v", tr.NextAt)
	require.Equal(t, 1, tb.chans["whatsapp"].Calls())
	require.Equal(t, "closed", tb.d.Router().Lane("whatsapp").BreakerState(), "a 429 is not a breaker failure")

	tb.now = tb.now.Add(8 * time.Second)
	tr = tb.d.step(context.Background(), message(tb))
	require.Equal(t, store.AttemptSent, tr.Attempts[0].Status)
}

func TestConfiguredRateQueuesInsteadOfFailing(t *testing.T) {
	t.Parallel()
	tb := setup(t, otpPolicy(), fakeHealth{}, nil)
	lane := tb.d.Router().Lane("whatsapp")
	lane.limiter = rate.NewLimiter(rate.Every(time.Minute), 1)
	tr := tb.d.step(context.Background(), message(tb))
	require.Equal(t, store.AttemptSent, tr.Attempts[0].Status)

	tr = tb.d.step(context.Background(), message(tb))
	require.Empty(t, tr.Attempts, "over the rate: no attempt, no failover")
	require.Equal(t, store.StatusSending, tr.Status)
	require.True(t, tr.NextAt.After(tb.now.Add(50*time.Second)), "waits about a minute for its token, got %v", tr.NextAt.Sub(tb.now))
	require.Equal(t, 1, tb.chans["whatsapp"].Calls())
}

func TestAmbiguousAssumeSentWaitsForTheReceipt(t *testing.T) {
	t.Parallel()
	pol := otpPolicy()
	pol.OnAmbiguous = config.AmbiguousAssumeSent
	tb := setup(t, pol, fakeHealth{}, map[string][]outcome{"whatsapp": {hang}})
	tr := tb.d.step(context.Background(), message(tb))
	require.Len(t, tr.Attempts, 1, "no failover: the policy never risks a duplicate")
	a := tr.Attempts[0]
	require.Equal(t, store.AttemptSent, a.Status)
	require.True(t, a.Ambiguous)
	require.Equal(t, store.StatusSent, tr.Status)
	require.Equal(t, "whatsapp", tr.Channel)
	require.Equal(t, 0, tb.chans["sms"].Calls())
	require.False(t, tr.NextAt.IsZero(), "the receipt deadline still applies")
}

type recObserver struct {
	mu        sync.Mutex
	attempts  []string
	failovers []string
	finished  []string
	degraded  []string
}

func (r *recObserver) Attempt(ch, outcome string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, ch+"/"+outcome)
}

func (r *recObserver) Failover(from, to, trigger string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failovers = append(r.failovers, from+">"+to+"/"+trigger)
}

func (r *recObserver) Finished(st store.Status, ch, pol string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished = append(r.finished, string(st)+"/"+ch+"/"+pol)
}

func (r *recObserver) Receipt(string, store.AttemptStatus, bool) {}
func (r *recObserver) Degraded(ch, pol string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.degraded = append(r.degraded, pol+"/"+ch)
}

func TestObserverSeesAttemptsFailoversAndEnds(t *testing.T) {
	t.Parallel()
	tb := setup(t, otpPolicy(), fakeHealth{}, map[string][]outcome{"whatsapp": {permanent}, "sms": {permanent}, "email": {permanent}})
	obs := &recObserver{}
	tb.d.obs = obs
	m := message(tb)
	m.To.WhatsApp = ""
	tr := tb.d.step(context.Background(), m)
	observe(obs, m, tr)
	require.Equal(t, []string{"sms/permanent", "email/permanent", "whatsapp/skipped_no_address"}, obs.attempts,
		"provider calls are reported by send, skips by observe")
	require.Equal(t, []string{"sms>email/error", "email>/error"}, obs.failovers, "a missing address is a skip, not a failover")
	require.Equal(t, []string{"failed//otp"}, obs.finished)
}
