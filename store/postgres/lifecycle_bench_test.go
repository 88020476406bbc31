package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-gw/switchboard/internal/testpg"
	"github.com/switchboard-gw/switchboard/store"
)

// BenchmarkLifecycleSerial is one message's writes, one after the other on
// one goroutine: Enqueue (pre-claimed), Advance (one attempt, sent) and a
// delivered RecordReceipt. With nothing running alongside, ns/op is the
// sum of the three ops' latencies, which round trips dominate: on a
// network with a real round-trip time each one costs that much again.
//
//	go test -run '^$' -bench LifecycleSerial -benchtime 2000x ./store/postgres/
func BenchmarkLifecycleSerial(b *testing.B) {
	s, err := Open(b.Context(), testpg.DB(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		now := time.Now().UTC()
		id := uuid.Must(uuid.NewV7()).String()
		if _, _, err := s.Enqueue(ctx, &store.Message{ID: id, IdempotencyScope: "shop", IdempotencyKey: "k-" + id,
			Policy: "otp", Route: []string{"whatsapp", "sms"}, Body: "Your code is 123456",
			To:   store.Recipient{Phone: "+15551234567", WhatsApp: "+15551234567"},
			Tags: []string{"otp"}, CreatedAt: now, LeaseOwner: "d", LeaseUntil: now.Add(time.Minute)}); err != nil {
			b.Fatal(err)
		}
		if err := s.Advance(ctx, &store.Transition{MessageID: id, Owner: "d",
			Attempts: []store.Attempt{{Seq: 1, Channel: "whatsapp", Status: store.AttemptSent, ProviderID: "p-" + id, StartedAt: now}},
			Status:   store.StatusSent, Channel: "whatsapp", Tries: 1, NextAt: now.Add(30 * time.Second), Now: now}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.RecordReceipt(ctx, store.ReceiptParams{Channel: "whatsapp", ProviderID: "p-" + id,
			Status: store.AttemptDelivered, At: now}); err != nil {
			b.Fatal(err)
		}
	}
}
