package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-gw/switchboard/routing"
)

var _ routing.SuppressionObserver = (*Metrics)(nil)

// registerSuppressions registers switchboard_suppressions_changed_total.
func (m *Metrics) registerSuppressions() {
	m.suppressions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_suppressions_changed_total",
		Help: "Changes to the opt-out (suppression) list by channel kind, source (inbound: the person sent STOP or START; provider: a provider refused a send because they opted out; api: POST or DELETE /v1/suppressions) and action (added, removed).",
	}, []string{"kind", "source", "action"})
	m.Registry.MustRegister(m.suppressions)
}

// SuppressionChanged implements routing.SuppressionObserver: an entry of
// kind from source was "added" or "removed".
func (m *Metrics) SuppressionChanged(kind, source, action string) {
	m.suppressions.WithLabelValues(kind, source, action).Inc()
}
