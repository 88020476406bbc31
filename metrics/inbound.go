package metrics

import "github.com/prometheus/client_golang/prometheus"

func (m *Metrics) registerInbound() {
	m.inbound = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_inbound_messages_total",
		Help: "Messages people sent to the channels (replies, STOP), by channel and the action their text asked (none, opt_out, opt_in); a provider's retry of the same message is not counted again.",
	}, []string{"channel", "action"})
	m.Registry.MustRegister(m.inbound)
}

// Inbound counts one inbound message (inbound.Observer).
func (m *Metrics) Inbound(channel, action string) { m.inbound.WithLabelValues(channel, action).Inc() }
