package sqlite

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/storetest"
)

// BenchmarkPurge measures retention: each iteration deletes one batch of
// old delivered messages (each with an attempt, two tags, two
// recipient addresses and an idempotency key). ms/batch is how long the
// writer is busy with one batch, which is how long a purge can hold up
// the writes queued behind it.
//
//	go test -run '^$' -bench Purge -benchtime 20x ./store/sqlite/
func BenchmarkPurge(b *testing.B) {
	for _, batch := range []int{100, 200, 500} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchPurge(b, batch) })
	}
}

func benchPurge(b *testing.B, purgeBatch int) {
	s := benchStore(b)
	ctx := context.Background()
	old := time.Now().Add(-40 * 24 * time.Hour)
	n := int64(b.N * purgeBatch)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1); i <= n; i = next.Add(1) {
				at := old.Add(time.Duration(i) * time.Millisecond)
				id := storetest.IDAt(at)
				m, _, err := s.Enqueue(ctx, &store.Message{ID: id, IdempotencyScope: "shop", IdempotencyKey: "k-" + id,
					Policy: "otp", Route: []string{"whatsapp", "sms"}, Body: "Your code is 123456",
					To:   store.Recipient{Phone: "+15551234567", WhatsApp: "+15551234567"},
					Tags: []string{"otp", "login"}, CreatedAt: at, LeaseOwner: "d", LeaseUntil: time.Now().Add(time.Hour)})
				if err != nil {
					b.Error(err)
					return
				}
				if err := s.Advance(ctx, &store.Transition{MessageID: m.ID, Owner: "d",
					Attempts: []store.Attempt{{Seq: 1, Channel: "whatsapp", Status: store.AttemptDelivered, ProviderID: "p-" + id,
						StartedAt: at, EndedAt: at, DeliveredAt: at}},
					Status: store.StatusDelivered, Channel: "whatsapp", Tries: 1, Now: at}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	b.ResetTimer()
	start := time.Now()
	total := 0
	for range b.N {
		got, err := s.Purge(ctx, old.Add(30*24*time.Hour), purgeBatch)
		if err != nil {
			b.Fatal(err)
		}
		total += got
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if total != int(n) {
		b.Fatalf("purged %d of %d", total, n)
	}
	b.ReportMetric(float64(elapsed.Milliseconds())/float64(b.N), "ms/batch")
	b.ReportMetric(float64(total)/elapsed.Seconds(), "msgs/s")
}
