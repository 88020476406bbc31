package sim_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/sim"
	"github.com/switchboard-gw/switchboard/config"
)

// waitFor bounds every wait for something a timer does.
const waitFor = 5 * time.Second

// quiet is how long a test listens to be sure no receipt comes.
const quiet = 50 * time.Millisecond

type fakeSink struct {
	got chan channels.Receipt
	err error
}

func (s *fakeSink) Receipt(_ context.Context, r channels.Receipt) error {
	s.got <- r
	return s.err
}

func (s *fakeSink) next(t *testing.T) channels.Receipt {
	t.Helper()
	select {
	case r := <-s.got:
		return r
	case <-time.After(waitFor):
		t.Fatal("no receipt")
		return channels.Receipt{}
	}
}

func (s *fakeSink) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-s.got:
		t.Fatalf("unexpected receipt %+v", r)
	case <-time.After(quiet):
	}
}

type testBundle struct {
	sim  *sim.Sim
	sink *fakeSink
}

func setup(t *testing.T, opts sim.Options) *testBundle {
	t.Helper()
	sink := &fakeSink{got: make(chan channels.Receipt, 64)}
	s, err := sim.New("wa", channels.WhatsApp, opts, channels.Deps{
		Logger:   slog.New(slog.DiscardHandler),
		Receipts: sink,
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return &testBundle{sim: s, sink: sink}
}

func opts(mode string) sim.Options {
	o := sim.DefaultOptions()
	o.Mode = mode
	o.ReceiptDelay = config.Duration(time.Millisecond)
	return o
}

func msg(id string) *channels.Message {
	return &channels.Message{ID: id, To: "+15551234567", Body: "Your code is 123456"}
}

func TestSendModes(t *testing.T) {
	t.Parallel()
	flakyAlways, flakyNever := opts(sim.ModeFlaky), opts(sim.ModeFlaky)
	flakyAlways.FailureRate, flakyNever.FailureRate = 1, 0
	tests := []struct {
		name        string
		opts        sim.Options
		wantClass   channels.Class // "" means accepted
		wantErr     string
		wantReceipt channels.ReceiptStatus // "" means none
	}{
		{name: "up", opts: opts(sim.ModeUp), wantReceipt: channels.ReceiptDelivered},
		{name: "down", opts: opts(sim.ModeDown), wantClass: channels.Transient, wantErr: "sim: provider unavailable (503)"},
		{name: "reject", opts: opts(sim.ModeReject), wantClass: channels.Permanent, wantErr: "sim: recipient rejected"},
		{name: "blackhole", opts: opts(sim.ModeBlackhole)},
		{name: "flaky failing", opts: flakyAlways, wantClass: channels.Transient, wantErr: "sim: provider unavailable (503)"},
		{name: "flaky passing", opts: flakyNever, wantReceipt: channels.ReceiptDelivered},
		{name: "timeout", opts: opts(sim.ModeTimeout), wantClass: channels.Ambiguous, wantErr: "request was written"},
		{name: "undeliver", opts: opts(sim.ModeUndeliver), wantReceipt: channels.ReceiptUndelivered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.opts)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
			defer cancel()

			res, err := b.sim.Send(ctx, msg("m1"))
			if tt.wantClass != "" {
				require.Error(t, err)
				require.Equal(t, tt.wantClass, channels.ClassOf(err))
				require.ErrorContains(t, err, tt.wantErr)
				require.Zero(t, res)
				require.Zero(t, b.sim.Sends("m1"))
				require.Equal(t, sim.SimStats{Failed: 1}, b.sim.Stats())
				b.sink.none(t)
				return
			}
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(res.ProviderID, "sim-"), res.ProviderID)
			require.Equal(t, 1, b.sim.Sends("m1"))
			if tt.wantReceipt == "" {
				b.sink.none(t)
				require.Equal(t, sim.SimStats{Accepted: 1}, b.sim.Stats())
				return
			}
			r := b.sink.next(t)
			require.Equal(t, "wa", r.Channel)
			require.Equal(t, res.ProviderID, r.ProviderID)
			require.Equal(t, tt.wantReceipt, r.Status)
			require.False(t, r.At.IsZero())
			if tt.wantReceipt == channels.ReceiptUndelivered {
				require.NotEmpty(t, r.Error)
			}
			require.NoError(t, b.sim.Close()) // waits for the hand-off to be counted
			require.Equal(t, sim.SimStats{Accepted: 1, Receipts: 1}, b.sim.Stats())
		})
	}
}

func TestTimeoutModeHonoursDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t, opts(sim.ModeTimeout))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	_, err := b.sim.Send(ctx, msg("m1"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, channels.Ambiguous, channels.ClassOf(err))
}

func TestTimeoutModeEndsOnClose(t *testing.T) {
	t.Parallel()
	b := setup(t, opts(sim.ModeTimeout))
	done := make(chan error, 1)
	go func() {
		_, err := b.sim.Send(context.Background(), msg("m1"))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Send returned without a deadline or Close: %v", err)
	case <-time.After(quiet):
	}
	require.NoError(t, b.sim.Close())
	select {
	case err := <-done:
		require.Equal(t, channels.Ambiguous, channels.ClassOf(err))
	case <-time.After(waitFor):
		t.Fatal("Send still hanging after Close")
	}
}

func TestReadReceiptFollowsDelivered(t *testing.T) {
	t.Parallel()
	o := opts(sim.ModeUp)
	o.ReadDelay = config.Duration(time.Millisecond)
	b := setup(t, o)
	res, err := b.sim.Send(t.Context(), msg("m1"))
	require.NoError(t, err)
	delivered, read := b.sink.next(t), b.sink.next(t)
	require.Equal(t, channels.ReceiptDelivered, delivered.Status)
	require.Equal(t, channels.ReceiptRead, read.Status)
	require.Equal(t, res.ProviderID, read.ProviderID)
	require.False(t, read.At.Before(delivered.At))
}

// TestUnreadModeDeliversWithoutRead: in mode unread the message is
// delivered and no read receipt follows, even with read_delay; back up,
// reads come again.
func TestUnreadModeDeliversWithoutRead(t *testing.T) {
	t.Parallel()
	o := opts(sim.ModeUnread)
	o.ReadDelay = config.Duration(time.Millisecond)
	o.ReceiptDelay = config.Duration(20 * time.Millisecond)
	b := setup(t, o)
	unread, err := b.sim.Send(t.Context(), msg("m1"))
	require.NoError(t, err)
	delivered := b.sink.next(t)
	require.Equal(t, channels.ReceiptDelivered, delivered.Status)
	require.Equal(t, unread.ProviderID, delivered.ProviderID)

	require.NoError(t, b.sim.SetMode(sim.ModeUp))
	read, err := b.sim.Send(t.Context(), msg("m2"))
	require.NoError(t, err)
	// A read of m1 would have come 1ms after its delivery, well before
	// m2's delivered receipt (20ms after its send).
	for _, want := range []channels.ReceiptStatus{channels.ReceiptDelivered, channels.ReceiptRead} {
		r := b.sink.next(t)
		require.Equal(t, want, r.Status)
		require.Equal(t, read.ProviderID, r.ProviderID, "only m2's receipts: nobody read m1")
	}
}

func TestSendsCountsAcceptedOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, opts(sim.ModeUp))
	for range 3 {
		_, err := b.sim.Send(t.Context(), msg("dup"))
		require.NoError(t, err)
	}
	require.NoError(t, b.sim.SetMode(sim.ModeDown))
	_, err := b.sim.Send(t.Context(), msg("dup"))
	require.Error(t, err)
	_, err = b.sim.Send(t.Context(), msg("other"))
	require.Error(t, err)

	require.Equal(t, 3, b.sim.Sends("dup"))
	require.Zero(t, b.sim.Sends("other"))
	require.Zero(t, b.sim.Sends("never"))
	st := b.sim.Stats()
	require.EqualValues(t, 3, st.Accepted)
	require.EqualValues(t, 2, st.Failed)
}

func TestSetMode(t *testing.T) {
	t.Parallel()
	b := setup(t, opts(sim.ModeUp))
	require.Equal(t, sim.ModeUp, b.sim.Mode())

	_, err := b.sim.Send(t.Context(), msg("m1"))
	require.NoError(t, err)

	require.NoError(t, b.sim.SetMode(sim.ModeReject))
	require.Equal(t, sim.ModeReject, b.sim.Mode())
	_, err = b.sim.Send(t.Context(), msg("m2"))
	require.Equal(t, channels.Permanent, channels.ClassOf(err))

	err = b.sim.SetMode("sideways")
	require.ErrorContains(t, err, `unknown sim mode "sideways"`)
	for _, m := range sim.Modes {
		require.ErrorContains(t, err, m)
	}
	require.Equal(t, sim.ModeReject, b.sim.Mode(), "a bad mode changes nothing")

	require.NoError(t, b.sim.SetMode(sim.ModeUp))
	_, err = b.sim.Send(t.Context(), msg("m3"))
	require.NoError(t, err)
}

func TestConcurrentSendAndSetMode(t *testing.T) {
	t.Parallel()
	o := opts(sim.ModeUp)
	o.ReceiptDelay = 0
	b := setup(t, o)
	go func() { // drain; receipts are not the point here
		for range b.sink.got {
		}
	}()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				if j%10 == 0 {
					_ = b.sim.SetMode(sim.Modes[(i+j)%3]) // up, down, reject: none hang
				}
				_, _ = b.sim.Send(t.Context(), msg(fmt.Sprint(i, "-", j)))
				_ = b.sim.Mode()
			}
		})
	}
	wg.Wait()
	require.NoError(t, b.sim.Close())
	st := b.sim.Stats()
	require.EqualValues(t, 800, st.Accepted+st.Failed)
	require.LessOrEqual(t, st.Receipts, st.Accepted)
}

func TestProbe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode    string
		wantErr bool
	}{
		{sim.ModeUp, false},
		{sim.ModeDown, true},
		{sim.ModeReject, false},
		{sim.ModeBlackhole, false}, // a silent outage: probes cannot see it
		{sim.ModeFlaky, false},
		{sim.ModeTimeout, true},
		{sim.ModeUndeliver, false},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			b := setup(t, opts(tt.mode))
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
			defer cancel()
			err := b.sim.Probe(ctx)
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, channels.Transient, channels.ClassOf(err))
		})
	}
}

func TestLatencyHonoursContext(t *testing.T) {
	t.Parallel()
	o := opts(sim.ModeUp)
	o.Latency = config.Duration(time.Hour)
	o.Jitter = config.Duration(time.Hour)
	b := setup(t, o)

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(10*time.Millisecond, cancel)
	start := time.Now()
	_, err := b.sim.Send(ctx, msg("m1"))
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, channels.Transient, channels.ClassOf(err), "nothing was written, so a retry is safe")
	require.Less(t, time.Since(start), waitFor)
	require.Zero(t, b.sim.Sends("m1"))

	require.ErrorIs(t, b.sim.Probe(ctx), context.Canceled)
}

func TestLatencyIsApplied(t *testing.T) {
	t.Parallel()
	o := opts(sim.ModeUp)
	o.Latency = config.Duration(20 * time.Millisecond)
	o.Jitter = config.Duration(5 * time.Millisecond)
	b := setup(t, o)
	start := time.Now()
	_, err := b.sim.Send(t.Context(), msg("m1"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)
}

func TestCloseStopsPendingReceipts(t *testing.T) {
	t.Parallel()
	o := opts(sim.ModeUp)
	o.ReceiptDelay = config.Duration(time.Hour)
	b := setup(t, o)
	_, err := b.sim.Send(t.Context(), msg("m1"))
	require.NoError(t, err)

	require.NoError(t, b.sim.Close()) // returns at once: the timer is stopped, not awaited
	require.NoError(t, b.sim.Close(), "closing twice is harmless")
	b.sink.none(t)

	_, err = b.sim.Send(t.Context(), msg("m2"))
	require.Error(t, err)
	require.Equal(t, channels.Transient, channels.ClassOf(err))
}

func TestSinkErrorIsNotCounted(t *testing.T) {
	t.Parallel()
	b := setup(t, opts(sim.ModeUp))
	b.sink.err = errors.New("store: closed")
	_, err := b.sim.Send(t.Context(), msg("m1"))
	require.NoError(t, err)
	b.sink.next(t)
	require.NoError(t, b.sim.Close())
	require.Zero(t, b.sim.Stats().Receipts)
}

func TestNilSinkIsFine(t *testing.T) {
	t.Parallel()
	s, err := sim.New("sms", channels.SMS, opts(sim.ModeUp), channels.Deps{})
	require.NoError(t, err)
	_, err = s.Send(t.Context(), msg("m1"))
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	bad := func(f func(*sim.Options)) sim.Options { o := sim.DefaultOptions(); f(&o); return o }
	tests := []struct {
		name string
		kind channels.Kind
		opts sim.Options
		want string
	}{
		{"kind", "pigeon", sim.DefaultOptions(), `unknown kind "pigeon"`},
		{"mode", channels.SMS, bad(func(o *sim.Options) { o.Mode = "off" }), `mode: unknown sim mode "off"`},
		{"failure rate", channels.SMS, bad(func(o *sim.Options) { o.FailureRate = 1.5 }), "failure_rate: must be between 0 and 1"},
		{"latency", channels.SMS, bad(func(o *sim.Options) { o.Latency = -1 }), "latency: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := sim.New("x", tt.kind, tt.opts, channels.Deps{})
			require.ErrorContains(t, err, tt.want)
		})
	}
}
