package drill

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// shortBudget: SMS may spend 0.79 USD (100 one-segment messages at
// 0.0079), traffic 40 msg/s for 5s on [sms, email].
const shortBudget = `
name: short-budget
duration: 5s
drain: 15s
traffic: {rate: 40, recipients: 50, tags: [otp]}
targets: {lost: 0, max_failed: 0, min_fallback: 1, max_budget_overshoot: "0.5056", min_budget_fallback_ratio: 1}
gateway:
  dispatch: {poll: 50ms}
  channels:
    sms:
      type: sim
      kind: sms
      latency: 5ms
      receipt_delay: 20ms
      probe: {interval: 500ms}
      cost: {per_segment: 0.0079, currency: USD}
      budget: {per_day: 0.79, currency: USD}
    email: {type: sim, kind: email, latency: 5ms, receipt_delay: 20ms, probe: {interval: 500ms}}
  policies:
    - name: otp
      match: {tags: [otp]}
      route: [sms, email]
      ttl: 1m
`

// TestShortBudgetDrill runs a budget drill end to end: the SMS budget is
// reached, the store's counter agrees with the attempts, and the messages
// after it go by email with reason budget on their SMS attempt.
func TestShortBudgetDrill(t *testing.T) {
	rep := runDrill(t, "short-budget.yaml", shortBudget)
	require.True(t, rep.Pass, "%v", rep.Missed())
	require.Len(t, rep.Budgets, 1)
	b := rep.Budgets[0]
	require.Equal(t, "sms", b.Channel)
	require.NotNil(t, b.ReachedAt, "the budget was never reached")
	require.GreaterOrEqual(t, b.Charged, 100)
	require.Equal(t, b.Spent, b.Counter)
	require.Positive(t, b.Skipped)
	require.Positive(t, rep.DeliveredBy["email"])
	require.Equal(t, rep.Accepted, rep.DeliveredBy["sms"]+rep.DeliveredBy["email"])
}
