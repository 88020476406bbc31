package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/internal/lograte"
	"github.com/switchboard-gw/switchboard/store"
)

// Receipts applies providers' delivery reports to the store. It implements
// channels.ReceiptSink.
type Receipts struct {
	Store  store.Store
	Logger *slog.Logger
	// Wake is called when a receipt makes a message due (an undelivered
	// report), so the dispatcher fails it over without waiting for a poll.
	Wake func()
	// Observer, if set, is told about every applied receipt.
	Observer Observer
	// CallbackDue, if set, is called once a receipt that changed a
	// message is recorded: its status callback may be due now.
	CallbackDue func()
	// Router, if set, gives the lanes whose receipt breakers judge the
	// receipts (silent-outage detection): Dispatcher.Router.
	Router func() *Router

	errs lograte.Limiter // receipts that could not be recorded
}

var _ channels.ReceiptSink = (*Receipts)(nil)

// receiptRetries bounds how long a receipt waits for its attempt to be
// recorded: a fast provider can report delivery before the dispatcher has
// written the attempt it belongs to.
var receiptRetries = []time.Duration{20 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second, 5 * time.Second}

// Receipt records r. If the attempt is not (yet) known it retries in the
// background for a few seconds before giving up, and returns nil at once.
func (rc *Receipts) Receipt(ctx context.Context, r channels.Receipt) error {
	p, err := receiptParams(r)
	if err != nil {
		return err
	}
	rc.withReadTimeouts(&p)
	res, err := rc.Store.RecordReceipt(ctx, p)
	if errors.Is(err, store.ErrNotFound) {
		go rc.retry(p)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record receipt: %w", err)
	}
	rc.applied(p, res)
	return nil
}

func (rc *Receipts) retry(p store.ReceiptParams) {
	for _, wait := range receiptRetries {
		time.Sleep(wait)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := rc.Store.RecordReceipt(ctx, p)
		cancel()
		if err == nil {
			rc.applied(p, res)
			return
		}
		if !errors.Is(err, store.ErrNotFound) {
			// One line per interval, with a count: a database outage fails
			// every receipt in flight.
			rc.errs.Log(rc.logger(), slog.LevelError, "record receipt", "channel", p.Channel, "provider_id", p.ProviderID, "err", err)
			return
		}
	}
	rc.logger().Warn("receipt for an unknown message dropped", "channel", p.Channel, "provider_id", p.ProviderID, "status", p.Status)
}

// receiptReadTimeout bounds the store read of the degraded event.
const receiptReadTimeout = 5 * time.Second

func (rc *Receipts) applied(p store.ReceiptParams, res store.ReceiptResult) {
	finished := res.Changed && p.Status == store.AttemptDelivered && res.Status.Final() && !res.Duplicate && !res.Late
	if res.Changed && rc.CallbackDue != nil {
		rc.CallbackDue()
	}
	if rc.Observer != nil && res.Changed {
		rc.Observer.Receipt(p.Channel, p.Status, res.Late)
		if finished {
			rc.Observer.Finished(res.Status, p.Channel, "")
		}
	}
	if finished {
		rc.degradedAfterReceipt(p.Channel, res)
	}
	if res.Late {
		rc.logger().Info("late receipt", "id", res.MessageID, "channel", p.Channel, "status", p.Status, "duplicate", res.Duplicate)
	}
	wake := p.Status == store.AttemptUndelivered
	if rc.Router != nil {
		if r := rc.Router(); r != nil {
			// A receipt that makes the channel silent leaves the messages
			// waiting on it to fail over: the dispatcher does that when woken.
			if r.Lane(p.Channel).ReceiptHealth().receipt(res.MessageID, res.Seq, p.Status, p.At) {
				wake = true
			}
		}
	}
	if wake && rc.Wake != nil {
		rc.Wake()
	}
}

func (rc *Receipts) logger() *slog.Logger {
	if rc.Logger != nil {
		return rc.Logger
	}
	return slog.Default()
}

func receiptParams(r channels.Receipt) (store.ReceiptParams, error) {
	p := store.ReceiptParams{Channel: r.Channel, ProviderID: r.ProviderID, Error: r.Error, At: r.At, FailoverOnUndelivered: true}
	if p.At.IsZero() {
		p.At = time.Now()
	}
	switch r.Status {
	case channels.ReceiptSent:
		p.Status = store.AttemptSent
	case channels.ReceiptDelivered:
		p.Status = store.AttemptDelivered
	case channels.ReceiptRead:
		p.Status = store.AttemptRead
	case channels.ReceiptUndelivered, channels.ReceiptFailed:
		p.Status = store.AttemptUndelivered
	default:
		return p, fmt.Errorf("unknown receipt status %q", r.Status)
	}
	if r.Channel == "" || r.ProviderID == "" {
		return p, errors.New("receipt needs a channel and a provider id")
	}
	return p, nil
}
