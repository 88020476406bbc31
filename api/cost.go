package api

import (
	"context"
	"fmt"

	"github.com/switchboard-gw/switchboard/api/view"
	"github.com/switchboard-gw/switchboard/money"
	"github.com/switchboard-gw/switchboard/routing"
	"github.com/switchboard-gw/switchboard/store"
)

func costView(c store.Cost) *view.CostView {
	if c.IsZero() {
		return nil
	}
	return &view.CostView{Amount: c.Micros.String(), Currency: c.Currency, Source: string(c.Source), Detail: c.Detail}
}

// todaySpend reads every channel's spend today from the store (one query
// for GET /v1/channels), by channel.
func (s *Server) todaySpend(ctx context.Context) (string, map[string][]store.Spend, error) {
	day := store.SpendDay(s.now())
	rows, err := s.deps.Store.ChannelSpend(ctx, day)
	if err != nil {
		return day, nil, fmt.Errorf("read channel spend: %w", err)
	}
	by := map[string][]store.Spend{}
	for _, r := range rows {
		by[r.Channel] = append(by[r.Channel], r)
	}
	return day, by, nil
}

// spendView is lane l's spend today and its budget; nil for a channel with
// no cost, no budget and nothing spent.
func spendView(l *routing.Lane, day string, rows []store.Spend) *view.SpendView {
	bud := l.Config.Budget
	if l.Config.Cost == nil && bud == nil && len(rows) == 0 {
		return nil
	}
	v := &view.SpendView{Day: day, Spent: []money.Amount{}}
	var total money.Totals
	var inBudget money.Micros
	for _, r := range rows {
		total.Add(r.Currency, r.Micros)
		if bud != nil && r.Currency == bud.Currency {
			inBudget += r.Micros
		}
	}
	if a := total.Amounts(); a != nil {
		v.Spent = a
	}
	if bud != nil {
		v.Budget = &view.BudgetView{PerDay: bud.PerDay.String(), Currency: bud.Currency, Spent: inBudget.String(),
			Reached: inBudget >= bud.PerDay, Remaining: max(bud.PerDay-inBudget, 0).String()}
	}
	return v
}
