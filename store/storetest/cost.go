package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/money"
	"github.com/switchboard-gw/switchboard/store"
)

// spendOf reads channel's spend per currency on day.
func (e *env) spendOf(day, channel string) map[string]money.Micros {
	e.t.Helper()
	sp, err := e.s.ChannelSpend(e.ctx, day)
	require.NoError(e.t, err)
	out := map[string]money.Micros{}
	for _, s := range sp {
		require.Equal(e.t, day, s.Day)
		if s.Channel == channel {
			out[s.Currency] += s.Micros
		}
	}
	return out
}

// testCostAndSpend: an attempt's cost round-trips, the spend counters move
// in the same write (Advance's Spend), a reported price replaces a
// declared estimate (also on a receipt whose status is stale) and moves
// the counters by the difference, a declared cost never replaces a
// reported one, and an upsert of a recorded attempt keeps its cost.
func testCostAndSpend(t *testing.T, open func(t *testing.T) store.Store) {
	e := setup(t, open)
	day := store.SpendDay(t0)
	declared := store.Cost{Micros: 7900, Currency: "USD", Source: store.CostDeclared}

	// Two messages sent on sms with a declared cost; one on whatsapp without.
	var sms []string
	for i := range 2 {
		m := e.enqueue()
		e.claimOne("d", t0, m.ID)
		a := store.Attempt{MessageID: m.ID, Seq: 1, Step: 1, Channel: "sms", Status: store.AttemptSent,
			ProviderID: providerID(m.ID, "sms", 1), StartedAt: t0, Cost: declared}
		sp, ok := store.SpendOf(&a)
		require.True(t, ok)
		require.NoError(t, e.s.Advance(e.ctx, &store.Transition{MessageID: m.ID, Owner: "d", Attempts: []store.Attempt{a},
			Status: store.StatusSent, Channel: "sms", Step: 1, NextAt: t0.Add(time.Duration(i+1) * time.Hour), Now: t0, Spend: []store.Spend{sp}}))
		sms = append(sms, m.ID)
	}
	free := e.enqueue()
	e.claimOne("d", t0, free.ID)
	require.NoError(t, e.s.Advance(e.ctx, &store.Transition{MessageID: free.ID, Owner: "d", Now: t0,
		Attempts: []store.Attempt{{MessageID: free.ID, Seq: 1, Channel: "whatsapp", Status: store.AttemptSent,
			ProviderID: providerID(free.ID, "whatsapp", 1), StartedAt: t0}},
		Status: store.StatusSent, Channel: "whatsapp"})) // not due again
	require.Equal(t, declared, e.get(sms[0]).History[0].Cost)
	require.True(t, e.get(free.ID).History[0].Cost.IsZero(), "no cost: none recorded")
	require.Equal(t, map[string]money.Micros{"USD": 15800}, e.spendOf(day, "sms"))
	require.Empty(t, e.spendOf(day, "whatsapp"))
	require.Empty(t, e.spendOf(store.SpendDay(t0.Add(24*time.Hour)), "sms"), "the next UTC day starts at zero")

	// The current attempt upserted again (its receipt deadline passed)
	// keeps its cost, and the counters do not move.
	m0 := e.claimOne("d", t0.Add(time.Hour), sms[0])
	cur := *m0.Current
	cur.Cost = store.Cost{}
	cur.Reason, cur.EndedAt = "no_receipt", t0.Add(time.Minute)
	require.NoError(t, e.s.Advance(e.ctx, &store.Transition{MessageID: sms[0], Owner: "d", Attempts: []store.Attempt{cur},
		Status: store.StatusSent, Channel: "sms", Step: 1, NextAt: t0.Add(2 * time.Minute), Now: t0.Add(time.Minute)}))
	require.Equal(t, declared, e.get(sms[0]).History[0].Cost)
	require.Equal(t, map[string]money.Micros{"USD": 15800}, e.spendOf(day, "sms"))

	// A delivered receipt with Twilio's reported price replaces the
	// estimate; the counter moves by the difference.
	reported := store.Cost{Micros: 7500, Currency: "USD", Source: store.CostReported}
	res0 := e.receipt(store.ReceiptParams{Channel: "sms", ProviderID: providerID(sms[0], "sms", 1), Status: store.AttemptDelivered,
		At: t0.Add(2 * time.Minute), Cost: reported})
	require.Equal(t, []store.Spend{{Channel: "sms", Day: day, Currency: "USD", Micros: -7900}, {Channel: "sms", Day: day, Currency: "USD", Micros: 7500}},
		res0.Spend, "the result says how the counters moved")
	require.Equal(t, reported, e.get(sms[0]).History[0].Cost)
	require.Equal(t, map[string]money.Micros{"USD": 15400}, e.spendOf(day, "sms"))

	// A declared cost (WhatsApp's category, say) never replaces a reported
	// price, even on a receipt that changes the status.
	e.receipt(store.ReceiptParams{Channel: "sms", ProviderID: providerID(sms[0], "sms", 1), Status: store.AttemptRead,
		At: t0.Add(3 * time.Minute), Cost: store.Cost{Micros: 1, Currency: "USD", Source: store.CostDeclared}})
	require.Equal(t, reported, e.get(sms[0]).History[0].Cost)

	// A price in another currency, on a stale receipt (sent after
	// delivered): the status stays, the cost moves across currencies.
	eur := store.Cost{Micros: 6900, Currency: "EUR", Source: store.CostReported, Detail: "price_unit EUR"}
	e.receipt(store.ReceiptParams{Channel: "sms", ProviderID: providerID(sms[1], "sms", 1), Status: store.AttemptDelivered,
		At: t0.Add(2 * time.Minute)})
	res := e.receipt(store.ReceiptParams{Channel: "sms", ProviderID: providerID(sms[1], "sms", 1), Status: store.AttemptSent,
		At: t0.Add(3 * time.Minute), Cost: eur})
	require.False(t, res.Changed, "the status did not change")
	got := e.get(sms[1])
	require.Equal(t, store.AttemptDelivered, got.History[0].Status)
	require.Equal(t, eur, got.History[0].Cost)
	require.Equal(t, map[string]money.Micros{"USD": 7500, "EUR": 6900}, e.spendOf(day, "sms"))

	// A receipt for an attempt on a free channel that reports the message
	// free (WhatsApp's billable: false) records a zero reported cost.
	e.receipt(store.ReceiptParams{Channel: "whatsapp", ProviderID: providerID(free.ID, "whatsapp", 1), Status: store.AttemptDelivered,
		At: t0.Add(time.Minute), Cost: store.Cost{Currency: "USD", Source: store.CostReported, Detail: "billable=false"}})
	fc := e.get(free.ID).History[0].Cost
	require.Equal(t, store.CostReported, fc.Source)
	require.Zero(t, fc.Micros)
	require.True(t, strings.Contains(fc.Detail, "billable=false"))

	// Every channel with spend is listed, sorted or not.
	all, err := e.s.ChannelSpend(e.ctx, day)
	require.NoError(t, err)
	chans := make([]string, 0, len(all))
	for _, s := range all {
		chans = append(chans, s.Channel+"/"+s.Currency)
	}
	slices.Sort(chans)
	require.Equal(t, []string{"sms/EUR", "sms/USD"}, chans)
}
