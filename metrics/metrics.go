// Package metrics exposes Switchboard's Prometheus metrics: what the
// routing core did (attempts, failovers, final statuses, receipts), what
// the channels look like now (breaker and health state, probes), the queue,
// and config reloads. Names follow Prometheus conventions: a switchboard_
// prefix, _total for counters, _seconds for durations.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/switchboard-gw/switchboard/routing"
	"github.com/switchboard-gw/switchboard/store"
)

// Metrics holds every Switchboard metric.
type Metrics struct {
	Registry *prometheus.Registry

	accepted   *prometheus.CounterVec
	finished   *prometheus.CounterVec
	attempts   *prometheus.CounterVec
	sendTime   *prometheus.HistogramVec
	failovers  *prometheus.CounterVec
	degraded   *prometheus.CounterVec
	receipts   *prometheus.CounterVec
	probes     *prometheus.CounterVec
	probeTime  *prometheus.HistogramVec
	callbacks  *prometheus.CounterVec
	purged     prometheus.Counter
	purgeOK    prometheus.Gauge
	purgeFails prometheus.Counter
	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge
	// Abuse limits (metrics/abuse.go).
	rateLimited      *prometheus.CounterVec
	authFailures     *prometheus.CounterVec
	admissionRefused *prometheus.CounterVec

	cbIsolation callbackIsolation // callbacks.go

	inbound *prometheus.CounterVec // inbound.go
}

var _ routing.Observer = (*Metrics)(nil)

// New creates the metrics in a fresh registry with the Go and process
// collectors.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.accepted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_messages_accepted_total",
		Help: "Messages accepted (202) by policy.",
	}, []string{"policy"})
	m.finished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_messages_finished_total",
		Help: "Messages that reached a final status, by status, channel and policy (policy is empty when a receipt finished the message).",
	}, []string{"status", "channel", "policy"})
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_attempts_total",
		Help: "Delivery attempts by channel and outcome: sent, delivered, an error class (transient, permanent, rate_limited, misconfigured, ambiguous) or skipped_<reason>.",
	}, []string{"channel", "outcome"})
	m.sendTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "switchboard_send_duration_seconds",
		Help:    "Provider send call latency by channel and outcome.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"channel", "outcome"})
	m.failovers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_failovers_total",
		Help: "Times a route moved on, by the channel it left, the channel it went to (empty: route exhausted) and the trigger.",
	}, []string{"from", "to", "trigger"})
	m.degraded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_messages_degraded_total",
		Help: "Messages delivered on a fallback channel (not the first of their route: is_fallback), by policy and the channel that delivered them.",
	}, []string{"policy", "channel"})
	m.receipts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_receipts_total",
		Help: "Provider delivery receipts applied, by channel, status and whether they arrived after failover.",
	}, []string{"channel", "status", "late"})
	m.probes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_probes_total",
		Help: "Active health probes by channel and result (ok, fail).",
	}, []string{"channel", "result"})
	m.probeTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "switchboard_probe_duration_seconds",
		Help:    "Active health probe latency by channel.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"channel"})
	m.callbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_callbacks_total",
		Help: "Status callbacks to business apps by result (delivered, failed, gave_up).",
	}, []string{"result"})
	m.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "switchboard_config_last_reload_successful",
		Help: "Whether the last config load or reload succeeded (1) or failed and the previous config kept running (0).",
	})
	m.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "switchboard_config_last_reload_success_timestamp_seconds",
		Help: "When the config was last loaded successfully, as a Unix timestamp.",
	})
	m.purged = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_messages_purged_total",
		Help: "Messages deleted by store.retention.",
	})
	m.purgeOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "switchboard_retention_last_success_timestamp_seconds",
		Help: "When the last store.retention round finished without an error (unix seconds; 0 before the first).",
	})
	m.purgeFails = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_retention_failures_total",
		Help: "store.retention rounds that failed (the next round retries).",
	})
	m.newAbuse()
	m.Registry.MustRegister(m.rateLimited, m.authFailures, m.admissionRefused)
	m.registerInbound()
	m.Registry.MustRegister(m.accepted, m.finished, m.attempts, m.sendTime, m.failovers, m.degraded, m.receipts,
		m.probes, m.probeTime, m.callbacks, m.purged, m.purgeOK, m.purgeFails, m.reloadOK, m.reloadTime,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registerCallbackIsolation()
	return m
}

// Accepted counts a message accepted for policy.
func (m *Metrics) Accepted(policy string) { m.accepted.WithLabelValues(policy).Inc() }

// Attempt implements routing.Observer.
func (m *Metrics) Attempt(channel, outcome string, took time.Duration) {
	m.attempts.WithLabelValues(channel, outcome).Inc()
	if took > 0 {
		m.sendTime.WithLabelValues(channel, outcome).Observe(took.Seconds())
	}
}

// Failover implements routing.Observer.
func (m *Metrics) Failover(from, to, trigger string) {
	m.failovers.WithLabelValues(from, to, trigger).Inc()
}

// Finished implements routing.Observer.
func (m *Metrics) Finished(status store.Status, channel, policy string) {
	m.finished.WithLabelValues(string(status), channel, policy).Inc()
}

// Degraded implements routing.Observer.
func (m *Metrics) Degraded(channel, policy string) {
	m.degraded.WithLabelValues(policy, channel).Inc()
}

// Receipt implements routing.Observer.
func (m *Metrics) Receipt(channel string, status store.AttemptStatus, late bool) {
	l := "false"
	if late {
		l = "true"
	}
	m.receipts.WithLabelValues(channel, string(status), l).Inc()
}

// Probe records one health probe.
func (m *Metrics) Probe(channel string, took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "fail"
	}
	m.probes.WithLabelValues(channel, result).Inc()
	m.probeTime.WithLabelValues(channel).Observe(took.Seconds())
}

// Callback records the result of one status callback delivery.
func (m *Metrics) Callback(result string) { m.callbacks.WithLabelValues(result).Inc() }

// Purged counts messages deleted by retention (retention.Observer).
func (m *Metrics) Purged(n int) { m.purged.Add(float64(n)) }

// Round records how a retention round ended (retention.Observer).
func (m *Metrics) Round(at time.Time, err error) {
	if err != nil {
		m.purgeFails.Inc()
		return
	}
	m.purgeOK.Set(float64(at.Unix()))
}

// Reload records a config load or reload.
func (m *Metrics) Reload(ok bool, at time.Time) {
	if ok {
		m.reloadOK.Set(1)
		m.reloadTime.Set(float64(at.Unix()))
		return
	}
	m.reloadOK.Set(0)
}

// ChannelSource reports the channels' current state at scrape time.
type ChannelSource interface {
	// Channels returns, per channel: name, breaker state ("closed",
	// "half-open", "open") and health state.
	Channels() []ChannelState
}

// ChannelState is one channel's state at scrape time.
type ChannelState struct {
	Name, Breaker, Health string
	// Receipts is the channel's receipt breaker window; nil when the
	// channel is not judged on receipts.
	Receipts *routing.ReceiptStats
}

// LaneState builds a channel's state from its lane and its health state
// (from probes and overrides): a channel the receipt breaker found silent
// shows "silent" unless it is down or disabled.
func LaneState(l *routing.Lane, health string, now time.Time) ChannelState {
	st := ChannelState{Name: l.Name, Breaker: l.BreakerState(), Health: health}
	if rh := l.ReceiptHealth(); rh != nil && !rh.Settings().Disabled {
		rs := rh.Stats(now)
		st.Receipts = &rs
		if rs.Silent && (health == "healthy" || health == "degraded") {
			st.Health = "silent"
		}
	}
	return st
}

// QueueSource reports queue statistics at scrape time.
type QueueSource interface {
	Stats(ctx context.Context, now time.Time) (store.QueueStats, error)
}

// WatchChannels registers gauges read from src at each scrape.
func (m *Metrics) WatchChannels(src ChannelSource) {
	m.Registry.MustRegister(&channelCollector{src: src})
}

// WatchQueue registers queue gauges read from q at each scrape.
func (m *Metrics) WatchQueue(q QueueSource) {
	m.Registry.MustRegister(&queueCollector{q: q})
}

var (
	breakerDesc = prometheus.NewDesc("switchboard_channel_breaker_state",
		"Circuit breaker state per channel: 0 closed, 1 half-open, 2 open.", []string{"channel"}, nil)
	healthDesc = prometheus.NewDesc("switchboard_channel_state",
		"Channel health state: 1 for the channel's current state (healthy, degraded, down, disabled, silent), 0 for the others.", []string{"channel", "state"}, nil)
	depthDesc = prometheus.NewDesc("switchboard_queue_pending_messages",
		"Messages not yet in a final status.", nil, nil)
	dueDesc = prometheus.NewDesc("switchboard_queue_due_messages",
		"Messages due for the dispatcher now.", nil, nil)
	ageDesc = prometheus.NewDesc("switchboard_queue_oldest_due_age_seconds",
		"How long the oldest due message has been waiting (0 when none is due).", nil, nil)
	receiptRatioDesc = prometheus.NewDesc("switchboard_channel_receipt_confirmed_ratio",
		"Share of the sends judged in the receipt breaker's window whose delivered receipt came within the deadline (absent when none was judged).", []string{"channel"}, nil)
	receiptSendsDesc = prometheus.NewDesc("switchboard_channel_receipt_window_sends",
		"Sends judged in the receipt breaker's window (confirmed, or deadline passed with no delivered receipt).", []string{"channel"}, nil)
	receiptP90Desc = prometheus.NewDesc("switchboard_channel_receipt_latency_p90_seconds",
		"Delivered receipt latency p90 in the receipt breaker's window (absent with no receipts).", []string{"channel"}, nil)
	silentSinceDesc = prometheus.NewDesc("switchboard_channel_silent_since_timestamp_seconds",
		"When the receipt breaker found the channel silent (accepting, not delivering), as a Unix timestamp; 0 when it is not silent.", []string{"channel"}, nil)
	queueUpDesc = prometheus.NewDesc("switchboard_queue_stats_up",
		"Whether the queue statistics could be read from the store at this scrape.", nil, nil)
)

type channelCollector struct{ src ChannelSource }

func (c *channelCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- breakerDesc
	ch <- healthDesc
	ch <- receiptRatioDesc
	ch <- receiptSendsDesc
	ch <- receiptP90Desc
	ch <- silentSinceDesc
}

var healthStates = []string{"healthy", "degraded", "down", "disabled", "silent"}

func (c *channelCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.src.Channels() {
		b := 0.0
		switch s.Breaker {
		case "half-open":
			b = 1
		case "open":
			b = 2
		}
		ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, b, s.Name)
		for _, st := range healthStates {
			v := 0.0
			if st == s.Health {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(healthDesc, prometheus.GaugeValue, v, s.Name, st)
		}
		if r := s.Receipts; r != nil {
			ch <- prometheus.MustNewConstMetric(receiptSendsDesc, prometheus.GaugeValue, float64(r.Sends), s.Name)
			if ratio, ok := r.Ratio(); ok {
				ch <- prometheus.MustNewConstMetric(receiptRatioDesc, prometheus.GaugeValue, ratio, s.Name)
			}
			if r.Receipts > 0 {
				ch <- prometheus.MustNewConstMetric(receiptP90Desc, prometheus.GaugeValue, r.P90.Seconds(), s.Name)
			}
			since := 0.0
			if r.Silent {
				since = float64(r.SilentSince.UnixNano()) / 1e9
			}
			ch <- prometheus.MustNewConstMetric(silentSinceDesc, prometheus.GaugeValue, since, s.Name)
		}
	}
}

type queueCollector struct{ q QueueSource }

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthDesc
	ch <- dueDesc
	ch <- ageDesc
	ch <- queueUpDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := time.Now()
	st, err := c.q.Stats(ctx, now)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(dueDesc, prometheus.GaugeValue, float64(st.Due))
	age := 0.0
	if !st.OldestDue.IsZero() && st.OldestDue.Before(now) {
		age = now.Sub(st.OldestDue).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, age)
}
