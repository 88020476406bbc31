package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/money"
)

// TestCostAndBudget: amounts are read exactly from the YAML's text, and
// every bad value is an error naming its key.
func TestCostAndBudget(t *testing.T) {
	t.Parallel()
	with := func(sms string) string {
		return strings.Replace(okRest, "sms: {type: sim, kind: sms}", "sms: {type: sim, kind: sms, "+sms+"}", 1)
	}
	c, err := Parse("t.yaml", []byte(with(`cost: {per_message: 0.0079, per_segment: "0.0010", currency: USD}, budget: {per_day: 50, currency: USD}`)))
	require.NoError(t, err)
	sms := c.Channels[1]
	require.Equal(t, money.Micros(7900), sms.Cost.PerMessage)
	require.Equal(t, money.Micros(1000), sms.Cost.PerSegment)
	require.Equal(t, money.Micros(50_000_000), sms.Budget.PerDay)
	require.Equal(t, money.Micros(7900+3*1000), sms.Cost.Message(3))
	require.Nil(t, c.Channels[0].Cost, "no cost declared: none")

	tests := []struct {
		name string
		sms  string
		want []string
	}{
		{"lower-case currency", `cost: {per_message: 0.01, currency: usd}`,
			[]string{`t.yaml:6: channels.sms.cost.currency: "usd" is not an ISO 4217 currency code (three upper-case letters, such as USD or EUR)`}},
		{"unknown currency", `budget: {per_day: 5, currency: XYZ}`,
			[]string{`t.yaml:6: channels.sms.budget.currency: "XYZ" is not an ISO 4217 currency code`}},
		{"missing currency", `cost: {per_message: 0.01}`,
			[]string{`t.yaml:6: channels.sms.cost.currency: missing: give an ISO 4217 currency code, such as USD`}},
		{"negative amounts", `cost: {per_message: -0.01, per_segment: -1, per_category: {marketing: -2}, currency: EUR}`,
			[]string{
				`t.yaml:6: channels.sms.cost.per_message: must not be negative, got -0.01`,
				`t.yaml:6: channels.sms.cost.per_segment: must not be negative, got -1`,
				`t.yaml:6: channels.sms.cost.per_category.marketing: must not be negative, got -2`,
			}},
		{"zero budget", `budget: {per_day: 0, currency: USD}`,
			[]string{`t.yaml:6: channels.sms.budget.per_day: must be greater than 0, got 0`}},
		{"too precise", `cost: {per_message: 0.00000001, currency: USD}`,
			[]string{`t.yaml:6: channels.sms.cost.per_message: bad value "0.00000001": "0.00000001": more than 6 decimals`}},
		{"not a number", `budget: {per_day: lots, currency: USD}`,
			[]string{`t.yaml:6: channels.sms.budget.per_day: bad value "lots": "lots": not a decimal amount`}},
		{"budget in another currency than the cost", `cost: {per_message: 0.01, currency: EUR}, budget: {per_day: 5, currency: USD}`,
			[]string{`t.yaml:6: channels.sms.budget.currency: USD differs from cost.currency EUR: a budget counts only costs in its own currency`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(with(tt.sms)))
			require.Equal(t, tt.want, errLines(t, err))
		})
	}
}

// TestCostDiff: a reload that changes a budget or adds a cost says so
// (the channel is rebuilt with the new settings).
func TestCostDiff(t *testing.T) {
	t.Parallel()
	with := func(sms string) *Config {
		c, err := Parse("t.yaml", []byte(strings.Replace(okRest, "sms: {type: sim, kind: sms}", "sms: {type: sim, kind: sms, "+sms+"}", 1)))
		require.NoError(t, err)
		return c
	}
	old := with(`budget: {per_day: 50, currency: USD}`)
	d := Compare(old, with(`budget: {per_day: 20, currency: USD}, cost: {per_segment: 0.0079, currency: USD}`))
	require.True(t, d.ChannelChanged("sms"))
	require.Equal(t, "~ channel sms: cost: none → {per_segment: 0.0079, currency: USD}, budget.per_day: 50 → 20", d.String())
}
