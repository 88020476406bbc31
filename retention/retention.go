// Package retention deletes old messages that are done (store.retention),
// so a gateway's store does not grow without bound: at a million messages
// a day, about a gigabyte a day on SQLite.
//
// It deletes in small batches with a pause between them, so the store's
// writer (one goroutine on SQLite) keeps serving live traffic while a
// backlog of old messages is worked off.
package retention

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

// Defaults for the zero values of Runner's fields.
const (
	DefaultEvery = 10 * time.Minute
	DefaultBatch = 200
	DefaultPause = 50 * time.Millisecond
)

// Observer is told how many messages each batch deleted and how each
// round ended (metrics).
type Observer interface {
	Purged(n int)
	Round(at time.Time, err error)
}

// Runner purges on a timer.
type Runner struct {
	Store  store.Purger
	Every  time.Duration // how often to look; default DefaultEvery
	Batch  int           // messages per delete; default DefaultBatch
	Pause  time.Duration // between batches; default DefaultPause
	Logger *slog.Logger
	Obs    Observer
	Now    func() time.Time

	keep atomic.Int64 // SetKeep
}

// SetKeep sets how long messages are kept: those accepted longer ago are
// deleted once done. Zero or less keeps everything. It may be changed
// while Run runs (a config reload); the next round uses it.
func (r *Runner) SetKeep(d time.Duration) { r.keep.Store(int64(d)) }

// Keep is the keep period in force.
func (r *Runner) Keep() time.Duration { return time.Duration(r.keep.Load()) }

func (r *Runner) defaults() {
	if r.Every <= 0 {
		r.Every = DefaultEvery
	}
	if r.Batch <= 0 {
		r.Batch = DefaultBatch
	}
	if r.Pause < 0 {
		r.Pause = 0
	} else if r.Pause == 0 {
		r.Pause = DefaultPause
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	if r.Now == nil {
		r.Now = time.Now
	}
}

// Run purges at once and then every Every until ctx is done. A failed
// round is logged and retried at the next one.
func (r *Runner) Run(ctx context.Context) error {
	r.defaults()
	t := time.NewTicker(r.Every)
	defer t.Stop()
	for {
		n, err := r.PurgeOnce(ctx)
		if err != nil && ctx.Err() != nil {
			return nil
		}
		if r.Obs != nil {
			r.Obs.Round(r.Now(), err)
		}
		if err != nil {
			r.Logger.Error("retention: purge old messages", "deleted", n, "err", err)
		} else if n > 0 {
			r.Logger.Info("retention: purged old messages", "deleted", n, "keep", r.Keep().String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// PurgeOnce deletes every done message accepted more than Keep ago, and
// every inbound message received more than Keep ago whose callback is
// done, batch by batch, and returns how many messages it deleted (inbound
// ones are not counted). With no keep period set it deletes nothing.
func (r *Runner) PurgeOnce(ctx context.Context) (int, error) {
	r.defaults()
	keep := r.Keep()
	if keep <= 0 {
		return 0, nil
	}
	before := r.Now().Add(-keep)
	total, err := r.batches(ctx, func() (int, error) { return r.Store.Purge(ctx, before, r.Batch) }, true)
	if err != nil {
		return total, err
	}
	_, err = r.batches(ctx, func() (int, error) { return r.Store.PurgeInbound(ctx, before, r.Batch) }, false)
	return total, err
}

// batches runs purge until it deletes fewer than a batch, pausing between
// batches so live writes get the store; observed says whether each batch
// counts in Obs.Purged (messages do).
func (r *Runner) batches(ctx context.Context, purge func() (int, error), observed bool) (int, error) {
	total := 0
	for {
		n, err := purge()
		total += n
		if observed && n > 0 && r.Obs != nil {
			r.Obs.Purged(n)
		}
		if err != nil || n < r.Batch {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(r.Pause):
		}
	}
}
