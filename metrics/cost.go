package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-gw/switchboard/money"
	"github.com/switchboard-gw/switchboard/routing"
)

var _ routing.CostObserver = (*Metrics)(nil)

// newCost registers switchboard_cost_total. Its unit is one unit of the
// currency label (USD 1.00 counts 1, a 0.0079 SMS counts 0.0079): the
// float is only the exposition; the store counts spend in exact integers
// (package money). A counter never goes down, so when a provider's
// reported price comes in lower than the declared estimate already
// counted, the metric keeps the estimate: it is an upper bound, and GET
// /v1/channels (the store's spend counters) is exact.
func (m *Metrics) newCost() *prometheus.CounterVec {
	m.cost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_cost_total",
		Help: "What attempts cost, in units of the currency label (0.0079 is 0.0079 USD), by channel and ISO 4217 currency: the reported price, else the channel's declared cost; a reported price above its estimate adds the difference.",
	}, []string{"channel", "currency"})
	return m.cost
}

// Cost implements routing.CostObserver.
func (m *Metrics) Cost(channel, currency string, micros money.Micros) {
	m.cost.WithLabelValues(channel, currency).Add(float64(micros) / money.Scale)
}
