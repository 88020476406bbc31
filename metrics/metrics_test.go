package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

type fakeChannels []ChannelState

func (f fakeChannels) Channels() []ChannelState { return f }

type fakeQueue struct {
	st  store.QueueStats
	err error
}

func (f fakeQueue) Stats(context.Context, time.Time) (store.QueueStats, error) { return f.st, f.err }

func TestObserverCounters(t *testing.T) {
	t.Parallel()
	m := New()
	m.Accepted("otp")
	m.Accepted("otp")
	m.Attempt("whatsapp", "transient", 20*time.Millisecond)
	m.Attempt("sms", "sent", 5*time.Millisecond)
	m.Attempt("whatsapp", "skipped_breaker_open", 0)
	m.Failover("whatsapp", "sms", "error")
	m.Finished(store.StatusDelivered, "sms", "otp")
	m.Receipt("whatsapp", store.AttemptDelivered, true)
	m.Probe("whatsapp", 3*time.Millisecond, errors.New("refused"))
	m.Reload(true, time.Unix(1700000000, 0))

	require.Equal(t, 2.0, testutil.ToFloat64(m.accepted.WithLabelValues("otp")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.attempts.WithLabelValues("whatsapp", "transient")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.attempts.WithLabelValues("whatsapp", "skipped_breaker_open")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.failovers.WithLabelValues("whatsapp", "sms", "error")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.finished.WithLabelValues("delivered", "sms", "otp")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.receipts.WithLabelValues("whatsapp", "delivered", "true")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.probes.WithLabelValues("whatsapp", "fail")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.reloadOK))
	require.Equal(t, 1700000000.0, testutil.ToFloat64(m.reloadTime))
	// Skips make no provider call: no latency sample.
	require.Equal(t, 2, testutil.CollectAndCount(m.sendTime))

	m.Reload(false, time.Now())
	require.Equal(t, 0.0, testutil.ToFloat64(m.reloadOK))
	require.Equal(t, 1700000000.0, testutil.ToFloat64(m.reloadTime), "a failed reload keeps the last success time")
}

func TestScrapeTimeGauges(t *testing.T) {
	t.Parallel()
	m := New()
	m.WatchChannels(fakeChannels{{Name: "whatsapp", Breaker: "open", Health: "down"}, {Name: "sms", Breaker: "closed", Health: "healthy"}})
	m.WatchQueue(fakeQueue{st: store.QueueStats{Pending: 7, Due: 3, OldestDue: time.Now().Add(-90 * time.Second)}})
	require.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader(`
# HELP switchboard_channel_breaker_state Circuit breaker state per channel: 0 closed, 1 half-open, 2 open.
# TYPE switchboard_channel_breaker_state gauge
switchboard_channel_breaker_state{channel="sms"} 0
switchboard_channel_breaker_state{channel="whatsapp"} 2
`), "switchboard_channel_breaker_state"))
	require.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader(`
# HELP switchboard_queue_pending_messages Messages not yet in a final status.
# TYPE switchboard_queue_pending_messages gauge
switchboard_queue_pending_messages 7
`), "switchboard_queue_pending_messages"))
	mfs, err := m.Registry.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		switch mf.GetName() {
		case "switchboard_channel_state":
			down := 0.0
			for _, metric := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range metric.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["channel"] == "whatsapp" && labels["state"] == "down" {
					down = metric.GetGauge().GetValue()
				}
			}
			require.Equal(t, 1.0, down)
		case "switchboard_queue_oldest_due_age_seconds":
			require.InDelta(t, 90, mf.GetMetric()[0].GetGauge().GetValue(), 5)
		}
	}

	broken := New()
	broken.WatchQueue(fakeQueue{err: errors.New("locked")})
	require.NoError(t, testutil.GatherAndCompare(broken.Registry, strings.NewReader(`
# HELP switchboard_queue_stats_up Whether the queue statistics could be read from the store at this scrape.
# TYPE switchboard_queue_stats_up gauge
switchboard_queue_stats_up 0
`), "switchboard_queue_stats_up"))
}
