package routing

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/money"
	"github.com/switchboard-gw/switchboard/store"
)

// counters is a store's spend counters, as another instance left them.
type counters []store.Spend

func (c counters) ChannelSpend(_ context.Context, day string) ([]store.Spend, error) {
	var out []store.Spend
	for _, s := range c {
		if s.Day == day {
			out = append(out, s)
		}
	}
	return out, nil
}

// TestSpendBook: the book decides budgets on the store's counters (what
// every instance spent, read on Refresh) plus what this instance priced
// since; the budget-reached event is logged once a day; a new UTC day
// starts at zero.
func TestSpendBook(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 23, 59, 0, 0, time.UTC)
	day := store.SpendDay(now)
	var logs bytes.Buffer
	shared := counters{
		{Channel: "sms", Day: day, Currency: "USD", Micros: 40_000_000}, // another instance's 40 USD
		{Channel: "sms", Day: day, Currency: "EUR", Micros: 99_000_000}, // not the budget's currency
		{Channel: "sms", Day: "2026-12-02", Currency: "USD", Micros: 99_000_000},
	}
	b := NewSpendBook(shared, slog.New(slog.NewTextHandler(&logs, nil)))
	lane := &Lane{Name: "sms", Config: &config.Channel{Name: "sms", Budget: &config.Budget{PerDay: 50_000_000, Currency: "USD"}}}

	over, _ := b.overBudget(lane, now)
	require.False(t, over, "nothing read yet")
	require.NoError(t, b.Refresh(t.Context(), now))
	require.Equal(t, money.Micros(40_000_000), b.Spent("sms", "USD", now))
	over, _ = b.overBudget(lane, now)
	require.False(t, over)

	// This instance's own sends count at once, before the next refresh.
	b.Add(store.Spend{Channel: "sms", Day: day, Currency: "USD", Micros: 10_000_000})
	over, detail := b.overBudget(lane, now)
	require.True(t, over)
	require.Equal(t, "spent 50 USD of its 50 USD budget for 2026-12-03", detail)
	b.overBudget(lane, now)
	require.Equal(t, 1, strings.Count(logs.String(), "channel budget reached"), "logged once a day")

	// A receipt's correction (a reported price under the estimate).
	b.Add(store.Spend{Channel: "sms", Day: day, Currency: "USD", Micros: -1})
	over, _ = b.overBudget(lane, now)
	require.False(t, over)

	// Midnight UTC: a new day, nothing spent yet.
	next := now.Add(2 * time.Minute)
	require.Zero(t, b.Spent("sms", "USD", next))
	over, _ = b.overBudget(lane, next)
	require.False(t, over)
	b.Add(store.Spend{Channel: "sms", Day: day, Currency: "USD", Micros: 60_000_000})
	require.Zero(t, b.Spent("sms", "USD", next), "yesterday's spend does not count today")
}

// TestSpendBookRefreshKeepsUncommittedSpends: a refresh that read the
// counters before this instance's latest spend was committed does not
// drop that spend from the book (it did, and the next message went out on
// a channel whose budget was reached); what other instances spent still
// raises the figures.
func TestSpendBookRefreshKeepsUncommittedSpends(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	day := store.SpendDay(now)
	stale := counters{{Channel: "sms", Day: day, Currency: "USD", Micros: 8_900}} // the first send only
	b := NewSpendBook(stale, slog.New(slog.DiscardHandler))
	lane := &Lane{Name: "sms", Config: &config.Channel{Name: "sms", Budget: &config.Budget{PerDay: 17_800, Currency: "USD"}}}

	b.Add(store.Spend{Channel: "sms", Day: day, Currency: "USD", Micros: 8_900})
	b.Add(store.Spend{Channel: "sms", Day: day, Currency: "USD", Micros: 8_900}) // its Advance not committed yet
	require.NoError(t, b.Refresh(t.Context(), now))
	require.Equal(t, money.Micros(17_800), b.Spent("sms", "USD", now))
	over, _ := b.overBudget(lane, now)
	require.True(t, over, "the budget this instance reached still holds")

	// Other instances' spends raise the figures.
	b.store = counters{
		{Channel: "sms", Day: day, Currency: "USD", Micros: 30_000},
		{Channel: "email", Day: day, Currency: "USD", Micros: 200},
	}
	require.NoError(t, b.Refresh(t.Context(), now))
	require.Equal(t, money.Micros(30_000), b.Spent("sms", "USD", now))
	require.Equal(t, money.Micros(200), b.Spent("email", "USD", now))

	// A new UTC day starts from the counters alone.
	next := now.Add(24 * time.Hour)
	b.store = counters{{Channel: "sms", Day: store.SpendDay(next), Currency: "USD", Micros: 100}}
	require.NoError(t, b.Refresh(t.Context(), next))
	require.Equal(t, money.Micros(100), b.Spent("sms", "USD", next))
}
