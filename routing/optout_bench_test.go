package routing

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/sim"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/sqlite"
)

// BenchmarkStepSuppressionLookup is BenchmarkStep's no_deadline case with
// a real SQLite store behind the opt-out lookup: "no_store" is the step
// without any lookup, "empty_list" a store with no entry (the filter's
// atomic load), "others_listed" 10,000 entries none of which is the
// recipient (a filter probe, still no read), "recipient_listed" the
// recipient opted out of whatsapp (a read, and the skip).
func BenchmarkStepSuppressionLookup(b *testing.B) {
	for _, tc := range []struct {
		name   string
		store  bool
		others int
		listed bool
	}{
		{"no_store", false, 0, false},
		{"empty_list", true, 0, false},
		{"others_listed", true, 10000, false},
		{"recipient_listed", true, 10000, true},
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
			pol := &config.Policy{Name: "otp", Route: []string{"whatsapp", "sms"}, FailoverOn: config.AllTriggers}
			r, err := NewRouter([]*config.Policy{pol}, lanes, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var st store.Store
			if tc.store {
				s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "sb.db"))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = s.Close() })
				for i := range tc.others {
					if err := s.Suppress(ctx, store.Suppression{Address: fmt.Sprintf("+1555%07d", i), Kind: "sms", Source: store.SourceAPI}); err != nil {
						b.Fatal(err)
					}
				}
				if tc.listed {
					if err := s.Suppress(ctx, store.Suppression{Address: "+15559999999", Kind: "whatsapp", Source: store.SourceInbound}); err != nil {
						b.Fatal(err)
					}
				}
				st = s
			}
			d := NewDispatcher(st, r, config.Dispatch{}, DispatcherOptions{Owner: "bench"})
			now := time.Now()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				m := &store.Message{
					ID: "m-" + strconv.Itoa(i), Policy: "otp", Route: pol.Route,
					To:     store.Recipient{WhatsApp: "+15559999999", Phone: "+15559999999"},
					Body:   "Your code is 123456",
					Status: store.StatusQueued, ExpiresAt: now.Add(10 * time.Minute), NextAt: now,
				}
				if t := d.step(ctx, m); t.Status != store.StatusSent {
					b.Fatalf("status %s (%s)", t.Status, t.LastError)
				}
			}
		})
	}
}
