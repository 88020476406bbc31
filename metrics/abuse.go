package metrics

import "github.com/prometheus/client_golang/prometheus"

// AuthFailureReasons are the values of switchboard_auth_failures_total's
// reason label: a fixed set, so an attacker cannot grow the series.
//
//   - missing: no API key (no Authorization: Bearer, an empty sign-in form)
//   - invalid: a key that is not configured
//   - forbidden: a valid key whose role may not call the endpoint
//   - blocked: refused with 429 because the client address failed too often
var AuthFailureReasons = []string{"missing", "invalid", "forbidden", "blocked"}

func (m *Metrics) newAbuse() {
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_api_rate_limited_total",
		Help: "Sends refused (429 rate_limited) because an API key was over its auth.keys[].rate, by key name; a batch counts each refused item.",
	}, []string{"key"})
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_auth_failures_total",
		Help: "Failed authentications on the API and the dashboard sign-in, by reason: missing, invalid, forbidden, or blocked (refused while the client address is blocked after repeated failures).",
	}, []string{"reason"})
	m.admissionRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_admission_refused_total",
		Help: "Sends a policy refused, by policy and reason: country_not_allowed (its countries) or recipient_rate_limited (its limits.per_recipient); a batch counts each refused item.",
	}, []string{"policy", "reason"})
	// Every reason is exported from the start, so rate() and alerts see
	// the first failure as an increase.
	for _, r := range AuthFailureReasons {
		m.authFailures.WithLabelValues(r)
	}
}

// RateLimited counts n sends of the API key named key refused by its rate
// limit.
func (m *Metrics) RateLimited(key string, n int) { m.rateLimited.WithLabelValues(key).Add(float64(n)) }

// AuthFailed counts one failed authentication (reason: one of
// AuthFailureReasons).
func (m *Metrics) AuthFailed(reason string) { m.authFailures.WithLabelValues(reason).Inc() }

// AdmissionRefused counts one send that policy refused with the error code
// reason (country_not_allowed or recipient_rate_limited).
func (m *Metrics) AdmissionRefused(policy, reason string) {
	m.admissionRefused.WithLabelValues(policy, reason).Inc()
}
