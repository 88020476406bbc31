package metrics

import "github.com/prometheus/client_golang/prometheus"

// Per-destination isolation of status callbacks (callbacks.Sender): the
// destinations are the business apps' hosts, unbounded in number, so none
// of these is labelled by host.
type callbackIsolation struct {
	deferred  *prometheus.CounterVec
	opened    prometheus.Counter
	hostsOpen prometheus.Gauge
}

func (m *Metrics) registerCallbackIsolation() {
	c := &m.cbIsolation
	c.deferred = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_callbacks_deferred_total",
		Help: "Status callbacks handed back untried for later, by reason: host_busy (the destination has callbacks.per_host POSTs in flight) or breaker_open (the destination's circuit breaker is open).",
	}, []string{"reason"})
	c.opened = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_callbacks_breaker_opened_total",
		Help: "Times a callback destination's circuit breaker opened.",
	})
	c.hostsOpen = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "switchboard_callbacks_hosts_open",
		Help: "Callback destinations whose circuit breaker is open or half-open in this process.",
	})
	m.Registry.MustRegister(c.deferred, c.opened, c.hostsOpen)
}

// CallbacksDeferred implements callbacks.IsolationObserver.
func (m *Metrics) CallbacksDeferred(reason string, n int) {
	m.cbIsolation.deferred.WithLabelValues(reason).Add(float64(n))
}

// CallbackBreakerOpened implements callbacks.IsolationObserver.
func (m *Metrics) CallbackBreakerOpened() { m.cbIsolation.opened.Inc() }

// CallbackHostsOpen implements callbacks.IsolationObserver.
func (m *Metrics) CallbackHostsOpen(n int) { m.cbIsolation.hostsOpen.Set(float64(n)) }
