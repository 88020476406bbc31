package routing

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/switchboard-gw/switchboard/money"
	"github.com/switchboard-gw/switchboard/reason"
	"github.com/switchboard-gw/switchboard/store"
)

// SpendRefresh is how often the dispatcher reads the spend counters back
// from the store, while any channel has a budget: what other instances
// sharing a PostgreSQL store spent shows up here within this long.
const SpendRefresh = 5 * time.Second

// SpendBook is this instance's view of today's spend per channel and
// currency, for budgets. Routing never reads the store per message to
// check a budget: the book is refreshed from the store's counters every
// SpendRefresh (the truth, shared by every instance) and each attempt this
// instance prices is added to it at once, so a budget this instance
// reaches on its own is seen by the very next message.
//
// How far a budget can be overshot: by the messages in flight when it is
// reached (at most dispatch.workers per instance, each priced when its
// provider accepted it), and with several instances by what the others
// spend in one SpendRefresh before this one reads it back.
type SpendBook struct {
	store store.SpendReader
	log   *slog.Logger

	mu  sync.Mutex
	day string // the UTC day the figures are for
	by  map[spendKey]money.Micros
	// reached remembers the channels whose budget-reached event was
	// logged today, so it is logged once a day per channel.
	reached map[string]bool
}

type spendKey struct{ channel, currency string }

// NewSpendBook returns an empty book over s.
func NewSpendBook(s store.SpendReader, log *slog.Logger) *SpendBook {
	if log == nil {
		log = slog.Default()
	}
	return &SpendBook{store: s, log: log, by: map[spendKey]money.Micros{}, reached: map[string]bool{}}
}

// roll starts a new day's figures when now is on another UTC day. b.mu held.
func (b *SpendBook) roll(now time.Time) {
	if day := store.SpendDay(now); day != b.day {
		b.day, b.by, b.reached = day, map[spendKey]money.Micros{}, map[string]bool{}
	}
}

// Add counts a spend this instance recorded (or a receipt's correction).
func (b *SpendBook) Add(sp store.Spend) {
	if b == nil || sp.Micros == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if sp.Day != b.day {
		if sp.Day < b.day {
			return // yesterday's: today's figures do not change
		}
		b.day, b.by, b.reached = sp.Day, map[spendKey]money.Micros{}, map[string]bool{}
	}
	b.by[spendKey{sp.Channel, sp.Currency}] += sp.Micros
}

// Spent is channel's spend in currency on now's UTC day.
func (b *SpendBook) Spent(channel, currency string, now time.Time) money.Micros {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll(now)
	return b.by[spendKey{channel, currency}]
}

// Refresh raises the figures to the store's counters for now's UTC day.
//
// Raises, never lowers: a spend is added to the book when its attempt is
// priced, before the Advance that records it commits, so a read of the
// counters can miss spends the book already has. Replacing the figures
// with such a read dropped them until the next refresh, and a message
// could go out on a channel whose budget this instance had just reached.
// Every spend this instance records passes through Add first, so on one
// instance the book is never below the counters but for that gap; with
// several, the counters also hold the others' spends, and the higher of
// the two is what is known for sure.
func (b *SpendBook) Refresh(ctx context.Context, now time.Time) error {
	day := store.SpendDay(now)
	rows, err := b.store.ChannelSpend(ctx, day)
	if err != nil {
		return fmt.Errorf("read channel spend: %w", err)
	}
	read := make(map[spendKey]money.Micros, len(rows))
	for _, r := range rows {
		read[spendKey{r.Channel, r.Currency}] += r.Micros
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if day != b.day {
		b.day, b.by, b.reached = day, map[spendKey]money.Micros{}, map[string]bool{}
	}
	for k, v := range read {
		b.by[k] = max(b.by[k], v)
	}
	return nil
}

// overBudget reports whether lane l has spent its budget today, with the
// detail for the skipped attempt. The first time a day, it logs the
// budget-reached event.
func (b *SpendBook) overBudget(l *Lane, now time.Time) (bool, string) {
	bud := l.Config.Budget
	if b == nil || bud == nil {
		return false, ""
	}
	b.mu.Lock()
	b.roll(now)
	spent := b.by[spendKey{l.Name, bud.Currency}]
	over := spent >= bud.PerDay
	first := over && !b.reached[l.Name]
	if first {
		b.reached[l.Name] = true
	}
	b.mu.Unlock()
	if !over {
		return false, ""
	}
	detail := fmt.Sprintf("spent %s %s of its %s %s budget for %s", spent, bud.Currency, bud.PerDay, bud.Currency, store.SpendDay(now))
	if first {
		// The channel is degraded for the rest of the UTC day: every
		// route moves on from it (reason budget).
		b.log.Warn("channel budget reached; routes skip it until the UTC day ends",
			"channel", l.Name, "spent", spent.String(), "budget", bud.PerDay.String(), "currency", bud.Currency,
			"reason", reason.Budget)
	}
	return true, detail
}

// spendLoop refreshes the book every SpendRefresh while a channel of the
// current router has a budget, until stop is closed.
func (d *Dispatcher) spendLoop(stop <-chan struct{}) {
	t := time.NewTicker(SpendRefresh)
	defer t.Stop()
	for {
		if r := d.router.Load(); r != nil && r.hasBudgets() {
			ctx, cancel := context.WithTimeout(context.Background(), SpendRefresh)
			if err := d.spend.Refresh(ctx, d.now()); err != nil {
				d.spendErrs.Log(d.log, slog.LevelWarn, "refresh channel spend for budgets", "err", err)
			}
			cancel()
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// hasBudgets reports whether any lane has a budget.
func (r *Router) hasBudgets() bool {
	for _, l := range r.lanes {
		if l.Config.Budget != nil {
			return true
		}
	}
	return false
}

// Spend is the dispatcher's spend book (GET /v1/channels shows the
// store's figures; this is what routing decides on).
func (d *Dispatcher) Spend() *SpendBook { return d.spend }
