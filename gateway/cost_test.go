package gateway_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
	"github.com/switchboard-gw/switchboard/internal/testpg"
	"github.com/switchboard-gw/switchboard/routing"
)

// costConfig: SMS costs 0.001 per message plus 0.0079 per segment and may
// spend 0.0178 USD a day, two one-segment messages; email costs 0.0002.
const costConfig = `
store: {driver: sqlite, dsn: "%DSN%"}
dispatch: {poll: 20ms}
auth:
  keys:
    - {name: shop, key: ` + sendKey + `, role: send}
    - {name: support, key: ` + readKey + `, role: read}
    - {name: ops, key: ` + adminKey + `, role: admin}
channels:
  sms:
    type: sim
    kind: sms
    latency: 0s
    probe: {interval: 1h}
    cost: {per_message: 0.001, per_segment: 0.0079, currency: USD}
    budget: {per_day: 0.0178, currency: USD}
  email:
    type: sim
    kind: email
    latency: 0s
    probe: {interval: 1h}
    cost: {per_message: "0.0002", currency: USD}
policies:
  - name: default
    route: [sms, email]
    failover_on: [error]
`

const costMessage = `{"to":{"phone":"+15551234567","email":"ana@example.com"},"body":"Your code is 123456"}`

func deliveredOn(channel string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["channel"] == channel && m["status"] == "delivered" }
}

// TestBudgetMovesTheRouteOn: through a running gateway, SMS spends its
// declared cost per message; once the UTC day's spend reaches its budget
// the next message skips SMS with reason budget (even though the policy's
// failover_on lists only error) and goes by email; GET /v1/messages/{id}
// shows each attempt's cost and the total per currency, GET /v1/channels
// the day's spend against the budget, /metrics switchboard_cost_total and
// the budget failover, and the degraded event is counted and logged.
func TestBudgetMovesTheRouteOn(t *testing.T) {
	t.Parallel()
	tb := setup(t, costConfig, false)

	for i := range 2 {
		id := tb.send(t, costMessage)
		m := tb.waitMessage(t, id, "delivered by sms", deliveredOn("sms"))
		require.Equal(t, []any{map[string]any{"currency": "USD", "amount": "0.0089"}}, m["cost"], "message %d", i)
		a := m["attempts"].([]any)[0].(map[string]any)
		require.Equal(t, map[string]any{"amount": "0.0089", "currency": "USD", "source": "declared"}, a["cost"])
	}
	sms := tb.channel(t, "sms")["spend"].(map[string]any)
	require.Equal(t, []any{map[string]any{"currency": "USD", "amount": "0.0178"}}, sms["spent"])
	require.Equal(t, map[string]any{"per_day": "0.0178", "currency": "USD", "spent": "0.0178", "reached": true, "remaining": "0"}, sms["budget"])

	id := tb.send(t, costMessage)
	m := tb.waitMessage(t, id, "delivered by email", deliveredOn("email"))
	require.Equal(t, true, m["is_fallback"])
	atts := m["attempts"].([]any)
	require.Len(t, atts, 2)
	skipped := atts[0].(map[string]any)
	require.Equal(t, "sms", skipped["channel"])
	require.Equal(t, "skipped", skipped["status"])
	require.Equal(t, "budget", skipped["failover_reason"])
	require.Contains(t, skipped["error"], "spent 0.0178 USD of its 0.0178 USD budget for ")
	require.Nil(t, skipped["cost"], "a skipped attempt costs nothing")
	require.Equal(t, []any{map[string]any{"currency": "USD", "amount": "0.0002"}}, m["cost"])

	email := tb.channel(t, "email")["spend"].(map[string]any)
	require.Equal(t, []any{map[string]any{"currency": "USD", "amount": "0.0002"}}, email["spent"])
	require.Nil(t, email["budget"])

	require.InDelta(t, 0.0178, tb.sample(t, `switchboard_cost_total{channel="sms",currency="USD"}`), 1e-9)
	require.InDelta(t, 0.0002, tb.sample(t, `switchboard_cost_total{channel="email",currency="USD"}`), 1e-9)
	require.Equal(t, 1.0, tb.sample(t, `switchboard_failovers_total{from="sms",to="email",trigger="budget"}`))
	require.Equal(t, 1.0, tb.sample(t, `switchboard_attempts_total{channel="sms",outcome="skipped_budget"}`))
	tb.waitLog(t, "channel budget reached", "the budget-reached event")
	tb.waitLog(t, "failover_reasons=\"sms: budget\"", "the degraded event")
	require.Equal(t, 1.0, tb.sample(t, `switchboard_messages_degraded_total{channel="email",policy="default"}`))

	// The Go client reads the same.
	rc := client.New(tb.base, readKey)
	got, err := rc.Get(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, []client.Amount{{Currency: "USD", Amount: "0.0002"}}, got.Cost)
	require.Equal(t, &client.Cost{Amount: "0.0002", Currency: "USD", Source: "declared"}, got.Attempts[1].Cost)
	chs, err := rc.Channels(t.Context())
	require.NoError(t, err)
	require.Equal(t, "sms", chs[0].Name)
	require.True(t, chs[0].Spend.Budget.Reached)
	require.Equal(t, "0.0178", chs[0].Spend.Budget.Spent)

	// explain says the same, with the detail.
	status, ex := tb.do(t, http.MethodPost, "/v1/routes/explain", adminKey, costMessage)
	require.Equal(t, http.StatusOK, status, "%v", ex)
	require.Equal(t, "email", ex["channel"])
	require.Equal(t, "budget", ex["channels"].([]any)[0].(map[string]any)["reason"])
}

// TestBudgetSharedOnPostgres: two gateways on one PostgreSQL store count
// one spend. SMS spent its budget through A; B's GET /v1/channels shows
// it at once (the store's counters), B's routing skips SMS once its spend
// book has read the counters back (within routing.SpendRefresh), and B's
// next message goes by email with reason budget.
func TestBudgetSharedOnPostgres(t *testing.T) {
	t.Parallel()
	yml := strings.Replace(costConfig, `store: {driver: sqlite, dsn: "%DSN%"}`, `store: {driver: postgres, dsn: "`+testpg.DB(t)+`"}`, 1)
	require.NotEqual(t, costConfig, yml)
	a := setup(t, yml, false)
	b := setup(t, yml, false)

	for range 2 {
		id := a.send(t, costMessage)
		a.waitMessage(t, id, "delivered", func(m map[string]any) bool { return m["status"] == "delivered" })
	}
	sms := b.channel(t, "sms")["spend"].(map[string]any)
	require.Equal(t, true, sms["budget"].(map[string]any)["reached"], "%v", sms)

	deadline := time.Now().Add(routing.SpendRefresh + 10*time.Second)
	for {
		status, ex := b.do(t, http.MethodPost, "/v1/routes/explain", adminKey, costMessage)
		require.Equal(t, http.StatusOK, status, "%v", ex)
		if ex["channels"].([]any)[0].(map[string]any)["reason"] == "budget" {
			break
		}
		require.True(t, time.Now().Before(deadline), "B never saw the budget reached: %v", ex)
		time.Sleep(pollEvery)
	}
	id := b.send(t, costMessage)
	m := b.waitMessage(t, id, "delivered by email", deliveredOn("email"))
	require.Equal(t, "budget", m["attempts"].([]any)[0].(map[string]any)["failover_reason"])
}
