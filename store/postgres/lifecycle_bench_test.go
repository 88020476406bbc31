package postgres

import (
	"context"
	"fmt"
	"os"
	"strings"
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
	cpu0 := backendCPU(ctx, b, s)
	b.ResetTimer()
	for range b.N {
		if err := lifecycle(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// The database's share: CPU the server processes used per message
	// (Linux; 0 elsewhere).
	b.ReportMetric(float64((backendCPU(ctx, b, s)-cpu0).Microseconds())/float64(b.N), "pg-cpu-us/op")
}

// BenchmarkLifecycleParallel is BenchmarkLifecycleSerial from 64
// goroutines at once, so the writes share group commits as under the
// ingest bench's load. pg-cpu-us/op, the database's CPU per message, is
// the number to compare between trees: it moves less than ns/op when
// other jobs load the machine.
//
//	go test -run '^$' -bench LifecycleParallel -benchtime 20000x ./store/postgres/
func BenchmarkLifecycleParallel(b *testing.B) {
	s, err := Open(b.Context(), testpg.DB(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	cpu0, wal0 := backendCPU(ctx, b, s), walLSN(ctx, b, s)
	b.SetParallelism(32) // 64 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := lifecycle(ctx, s); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((backendCPU(ctx, b, s)-cpu0).Microseconds())/float64(b.N), "pg-cpu-us/op")
	// WAL written per message: row versions, index entries and commits,
	// which other jobs on the machine do not change.
	b.ReportMetric(float64(walLSN(ctx, b, s)-wal0)/float64(b.N), "wal-B/op")
}

// walLSN is the server's current WAL insert position, in bytes.
func walLSN(ctx context.Context, b *testing.B, s *Store) int64 {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// lifecycle writes one message's three writes, one after the other.
func lifecycle(ctx context.Context, s *Store) error {
	now := time.Now().UTC()
	id := uuid.Must(uuid.NewV7()).String()
	if _, _, err := s.Enqueue(ctx, &store.Message{ID: id, IdempotencyScope: "shop", IdempotencyKey: "k-" + id,
		Policy: "otp", Route: []string{"whatsapp", "sms"}, Body: "Your code is 123456",
		To:   store.Recipient{Phone: "+15551234567", WhatsApp: "+15551234567"},
		Tags: []string{"otp"}, CreatedAt: now, LeaseOwner: "d", LeaseUntil: now.Add(time.Minute)}); err != nil {
		return err
	}
	if err := s.Advance(ctx, &store.Transition{MessageID: id, Owner: "d",
		Attempts: []store.Attempt{{Seq: 1, Channel: "whatsapp", Status: store.AttemptSent, ProviderID: "p-" + id, StartedAt: now}},
		Status:   store.StatusSent, Channel: "whatsapp", Tries: 1, NextAt: now.Add(30 * time.Second), Now: now}); err != nil {
		return err
	}
	if _, err := s.RecordReceipt(ctx, store.ReceiptParams{Channel: "whatsapp", ProviderID: "p-" + id,
		Status: store.AttemptDelivered, At: now}); err != nil {
		return err
	}
	return nil
}

// backendCPU sums utime + stime of the database's server processes (the
// store's connections) from /proc.
func backendCPU(ctx context.Context, b *testing.B, s *Store) time.Duration {
	rows, err := s.pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var total time.Duration
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			b.Fatal(err)
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		_, rest, _ := strings.Cut(string(raw), ") ")
		f := strings.Fields(rest)
		if len(f) < 13 {
			continue
		}
		var ut, st int64
		fmt.Sscan(f[11], &ut)
		fmt.Sscan(f[12], &st)
		total += time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ 100
	}
	return total
}
