package routing

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/sim"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/store"
)

type nopSink struct{}

func (nopSink) Receipt(context.Context, channels.Receipt) error { return nil }

// BenchmarkStep is the dispatcher's decision for one fresh message with
// sim channels at latency 0 and receipt_delay 0: policy lookup, route
// decision, breaker, sim send, the transition built. No store (Advance is
// in bench/hotpath's BenchmarkProcess). "receipt_deadline" is the otp
// policy of the benches (whatsapp receipt_timeout 30s: the receipt breaker
// tracks each send); "no_deadline" a policy without one.
func BenchmarkStep(b *testing.B) {
	for _, tc := range []struct {
		name    string
		timeout map[string]config.Duration
	}{
		{"receipt_deadline", map[string]config.Duration{"whatsapp": config.Duration(30 * time.Second), "sms": config.Duration(60 * time.Second)}},
		{"no_deadline", nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var lanes []*Lane
			for _, c := range []struct {
				name string
				kind channels.Kind
			}{{"whatsapp", channels.WhatsApp}, {"sms", channels.SMS}} {
				opts := sim.DefaultOptions()
				opts.ReceiptDelay = 0
				ch, err := sim.New(c.name, c.kind, opts, channels.Deps{Receipts: nopSink{}})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = ch.Close() })
				cc := chanConfig(c.name)
				cc.Type = "sim"
				lanes = append(lanes, NewLane(ch, cc, nil))
			}
			pol := &config.Policy{Name: "otp", Route: []string{"whatsapp", "sms"}, FailoverOn: config.AllTriggers, ReceiptTimeout: tc.timeout}
			r, err := NewRouter([]*config.Policy{pol}, lanes, nil)
			if err != nil {
				b.Fatal(err)
			}
			d := NewDispatcher(nil, r, config.Dispatch{}, DispatcherOptions{Owner: "bench"})
			ctx := context.Background()
			now := time.Now()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				m := &store.Message{
					ID: "m-" + strconv.Itoa(i), Policy: "otp", Route: pol.Route,
					To:     store.Recipient{WhatsApp: "+15551234567", Phone: "+15551234567"},
					Body:   "Your code is 123456",
					Status: store.StatusQueued, ExpiresAt: now.Add(10 * time.Minute), NextAt: now,
				}
				if t := d.step(ctx, m); t.Status != store.StatusSent {
					b.Fatalf("status %s", t.Status)
				}
			}
		})
	}
}
