package view

import "github.com/switchboard-gw/switchboard/money"

// CostView is what one attempt cost. Amount is an exact decimal string
// (never a float: see package money).
type CostView struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	// Source is reported (the provider's price) or declared (the
	// channel's cost: in config, an estimate until a reported price
	// replaces it).
	Source string `json:"source"`
	Detail string `json:"detail,omitempty"`
}

// SpendView is a channel's spend today (UTC), in GET /v1/channels: every
// instance's, from the store's counters.
type SpendView struct {
	Day    string         `json:"day"`   // UTC, YYYY-MM-DD
	Spent  []money.Amount `json:"spent"` // per currency; empty: nothing yet
	Budget *BudgetView    `json:"budget,omitempty"`
}

// BudgetView is a channel's daily budget and whether today's spend
// reached it (routes skip the channel with reason budget).
type BudgetView struct {
	PerDay    string `json:"per_day"`
	Currency  string `json:"currency"`
	Spent     string `json:"spent"`     // today's spend in Currency
	Reached   bool   `json:"reached"`   // Spent >= PerDay
	Remaining string `json:"remaining"` // PerDay - Spent, at least 0
}
