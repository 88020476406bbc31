package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	return s
}

// BenchmarkEnqueueParallel is the API's hot path: many requests, each
// waiting until its message is fsynced (synchronous=FULL). Group commit lets
// them share fsyncs.
func BenchmarkEnqueueParallel(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0))) // ~64 goroutines
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := s.Enqueue(ctx, newMsg()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkEnqueueSerial is one caller at a time: one fsync per message,
// the floor group commit improves on.
func BenchmarkEnqueueSerial(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	start := time.Now()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := s.Enqueue(ctx, newMsg()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkClaimAdvance is the dispatcher's hot path: claim a batch, then
// advance each message (one attempt recorded, waiting for its receipt).
func BenchmarkClaimAdvance(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	now := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 64 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				m := newMsg()
				m.CreatedAt = now
				if _, _, err := s.Enqueue(ctx, m); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	const workers, batch = 4, 32
	var done atomic.Int64
	start := time.Now()
	b.ResetTimer()
	for w := range workers {
		owner := fmt.Sprint("worker-", w)
		wg.Go(func() {
			for {
				ms, err := s.Claim(ctx, store.ClaimParams{Owner: owner, Lease: time.Minute, Limit: batch, Now: now})
				if err != nil {
					b.Error(err)
					return
				}
				if len(ms) == 0 {
					return
				}
				// The dispatcher advances each message from its own goroutine
				// once its provider call returns.
				var inner sync.WaitGroup
				for _, m := range ms {
					inner.Go(func() {
						err := s.Advance(ctx, &store.Transition{
							MessageID: m.ID, Owner: owner,
							Attempts: []store.Attempt{{Seq: 1, Channel: "whatsapp", Status: store.AttemptSent,
								ProviderID: "wa-" + m.ID, StartedAt: now}},
							Status: store.StatusSent, Channel: "whatsapp", Tries: 1, Now: now,
						})
						if err != nil {
							b.Error(err)
						}
					})
				}
				inner.Wait()
				done.Add(int64(len(ms)))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if done.Load() != int64(b.N) {
		b.Fatalf("advanced %d of %d", done.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
