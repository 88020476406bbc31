package drill

import (
	"fmt"
	"time"

	"github.com/switchboard-gw/switchboard/money"
	"github.com/switchboard-gw/switchboard/reason"
)

// BudgetReport is one channel's budget over the drill: what it spent
// (from the messages' attempts, and the store's spend counters, which must
// agree), when the budget was reached, how far it was overshot, and where
// the messages went after it.
type BudgetReport struct {
	Channel  string `json:"channel"`
	Currency string `json:"currency"`
	PerDay   string `json:"per_day"`
	// Spent: the sum of the channel's attempts' costs in Currency;
	// Counter: the store's spend counter for the day. Overshoot is Spent
	// minus PerDay (0 when under).
	Spent     string `json:"spent"`
	Counter   string `json:"counter"`
	Overshoot string `json:"overshoot"`
	// Charged: attempts on the channel that cost something; Reached: the
	// first attempt skipped with reason budget (seconds from the start);
	// ChargedAfter: attempts charged at or after it (sends in flight).
	Charged      int      `json:"charged"`
	ReachedAt    *float64 `json:"reached_at_s,omitempty"`
	ChargedAfter int      `json:"charged_after"`
	// Skipped: attempts skipped with reason budget. PostedAfter: messages
	// posted after ReachedAt; FallbackAfter: of those, delivered on
	// another channel; FallbackRatio their share; Latency their POST to
	// delivery.
	Skipped       int      `json:"skipped"`
	PostedAfter   int      `json:"posted_after"`
	FallbackAfter int      `json:"fallback_after"`
	FallbackRatio *float64 `json:"fallback_ratio,omitempty"`
	Latency       Latency  `json:"latency_after"`

	overshoot money.Micros
	agree     bool
}

// budgets reports every channel with a budget.
func (a *analysis) budgets() []*BudgetReport {
	var out []*BudgetReport
	for _, ch := range a.r.sc.config.Channels {
		if ch.Budget != nil {
			out = append(out, a.budget(ch.Name, ch.Budget.Currency, ch.Budget.PerDay))
		}
	}
	return out
}

func (a *analysis) budget(name, currency string, perDay money.Micros) *BudgetReport {
	b := &BudgetReport{Channel: name, Currency: currency, PerDay: perDay.String()}
	var spent, counter money.Micros
	var reached time.Time
	for _, x := range a.msgs {
		for _, at := range x.m.History {
			if at.Channel == name && at.Reason == reason.Budget && (reached.IsZero() || at.StartedAt.Before(reached)) {
				reached = at.StartedAt
			}
		}
	}
	var lat []time.Duration
	for _, x := range a.msgs {
		for _, at := range x.m.History {
			if at.Channel != name {
				continue
			}
			if at.Reason == reason.Budget {
				b.Skipped++
			}
			if at.Cost.Currency == currency && at.Cost.Micros > 0 {
				spent += at.Cost.Micros
				b.Charged++
				if !reached.IsZero() && !at.StartedAt.Before(reached) {
					b.ChargedAfter++
				}
			}
		}
		if !reached.IsZero() && x.p.at.After(reached) {
			b.PostedAfter++
			if x.delivered() && x.m.Channel != name {
				b.FallbackAfter++
				lat = append(lat, x.deliveredAt().Sub(x.p.at))
			}
		}
	}
	for _, sp := range a.r.spend {
		if sp.Channel == name && sp.Currency == currency {
			counter += sp.Micros
		}
	}
	b.Spent, b.Counter = spent.String(), counter.String()
	b.overshoot = max(spent-perDay, 0)
	b.Overshoot = b.overshoot.String()
	b.agree = spent == counter
	if !reached.IsZero() {
		at := round(reached.Sub(a.r.t0).Seconds())
		b.ReachedAt = &at
	}
	if b.PostedAfter > 0 {
		r := float64(b.FallbackAfter) / float64(b.PostedAfter)
		b.FallbackRatio = &r
	}
	b.Latency = latency(lat)
	return b
}

// checkBudgets: the store's counter agrees with the attempts (always, for
// a channel with a budget), and the budget targets.
func (rep *Report) checkBudgets(t *Targets) {
	add := func(name, want, got string, ok bool) {
		rep.Checks = append(rep.Checks, Check{Name: name, Want: want, Got: got, OK: ok})
	}
	for _, b := range rep.Budgets {
		add("spend_counter_agrees ("+b.Channel+": store counter = sum of attempts' costs)", b.Spent+" "+b.Currency, b.Counter+" "+b.Currency, b.agree)
		if t.MaxBudgetOvershoot != nil {
			limit, err := money.Parse(*t.MaxBudgetOvershoot)
			ok := err == nil && b.overshoot <= limit
			add("max_budget_overshoot ("+b.Channel+")", "<= "+*t.MaxBudgetOvershoot+" "+b.Currency, b.Overshoot+" "+b.Currency, ok)
		}
		if r := t.MinBudgetFallbackRatio; r != nil {
			name := "min_budget_fallback_ratio (posted after " + b.Channel + "'s budget was reached, delivered elsewhere)"
			if b.FallbackRatio == nil {
				add(name, fmt.Sprintf(">= %g", *r), "the budget was never reached", false)
			} else {
				add(name, fmt.Sprintf(">= %g", *r), fmt.Sprintf("%.4f (%d of %d)", *b.FallbackRatio, b.FallbackAfter, b.PostedAfter), *b.FallbackRatio >= *r)
			}
		}
	}
}

func (rep *Report) printBudgets(p func(string, ...any)) {
	for _, b := range rep.Budgets {
		p("  budget of %s: %s %s per day; spent %s (store counter %s) over %d charged attempts; reached at %s, %d charged after it (in flight); overshoot %s %s",
			b.Channel, b.PerDay, b.Currency, b.Spent, b.Counter, b.Charged, secs(b.ReachedAt), b.ChargedAfter, b.Overshoot, b.Currency)
		ratio := "n/a"
		if b.FallbackRatio != nil {
			ratio = fmt.Sprintf("%.2f%%", *b.FallbackRatio*100)
		}
		p("    skipped with reason budget: %d; posted after: %d, delivered elsewhere: %d (%s), their delivery %s",
			b.Skipped, b.PostedAfter, b.FallbackAfter, ratio, b.Latency)
	}
}
