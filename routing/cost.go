package routing

import (
	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/twilio"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/money"
	"github.com/switchboard-gw/switchboard/store"
)

// CostObserver is told the cost recorded for each attempt, for
// switchboard_cost_total. An Observer may implement it.
type CostObserver interface {
	// Cost: micros (millionths of currency) were recorded for channel;
	// never negative (a counter).
	Cost(channel, currency string, micros money.Micros)
}

// costOf prices attempt a, which the provider accepted with res: the
// provider's reported price, else the channel's declared cost (per message
// plus per SMS segment), else none.
func costOf(lane *Lane, body string, res channels.Result) store.Cost {
	if p := res.Price; p != nil && p.HasAmount {
		return store.Cost{Micros: p.Micros, Currency: p.Currency, Source: store.CostReported, Detail: p.Detail}
	}
	c := lane.Config.Cost
	if c == nil {
		return store.Cost{}
	}
	segs := 1
	if c.PerSegment != 0 && lane.Kind == channels.SMS {
		segs = res.Segments
		if segs <= 0 {
			// The provider did not count (the sim): count as Twilio does.
			segs = twilio.CountSegments(body).Count
		}
	}
	return store.Cost{Micros: c.Message(segs), Currency: c.Currency, Source: store.CostDeclared}
}

// receiptCost turns a receipt's price into the cost to record: a reported
// amount; a free message (zero, reported); a category priced from the
// channel's declared cost. Zero: nothing to record.
func receiptCost(p *channels.Price, c *config.Cost) store.Cost {
	switch {
	case p == nil:
		return store.Cost{}
	case p.HasAmount:
		return store.Cost{Micros: p.Micros, Currency: p.Currency, Source: store.CostReported, Detail: p.Detail}
	case c == nil:
		// Meta said what the message is, but nobody said what that
		// costs, nor in which currency.
		return store.Cost{}
	case p.Free:
		return store.Cost{Currency: c.Currency, Source: store.CostReported, Detail: p.Detail}
	}
	amount, ok := c.PerCategory[p.Category]
	if !ok {
		amount = c.Message(1)
	}
	return store.Cost{Micros: amount, Currency: c.Currency, Source: store.CostDeclared, Detail: p.Detail}
}

// charge records accepted attempt a's cost on a, adds it to the step's
// spend and the book, and reports it.
func (d *Dispatcher) charge(t *store.Transition, lane *Lane, m *store.Message, a *store.Attempt, res channels.Result) {
	if lane.Config.Cost == nil && res.Price == nil {
		return // the common case: nothing to price
	}
	a.Cost = costOf(lane, m.Body, res)
	sp, ok := store.SpendOf(a)
	if !ok {
		return
	}
	t.Spend = append(t.Spend, sp)
	d.spend.Add(sp)
	if co, ok := d.obs.(CostObserver); ok && sp.Micros > 0 {
		co.Cost(sp.Channel, sp.Currency, sp.Micros)
	}
}
