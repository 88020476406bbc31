package sqlite

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-gw/switchboard/store"
)

// threadCPU is the CPU time (user + system) of the calling OS thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD (Linux)
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writerCPU pins the writer goroutine to its OS thread and returns a func
// that reports the thread's CPU time since, then unpins it. The writer runs
// SQLite (pure Go) on its own goroutine, so this is the writer's CPU cost,
// fsync waits excluded.
func writerCPU(b *testing.B, s *Store) func() time.Duration {
	b.Helper()
	v, err := s.do(context.Background(), func(*writer) (any, error) {
		runtime.LockOSThread()
		return threadCPU(), nil
	})
	if err != nil {
		b.Fatal(err)
	}
	start := v.(time.Duration)
	return func() time.Duration {
		v, err := s.do(context.Background(), func(*writer) (any, error) {
			d := threadCPU()
			runtime.UnlockOSThread()
			return d, nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return v.(time.Duration) - start
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLifecycle mimics the gateway's write pattern per message: an
// Enqueue from one of ~64 API goroutines (idempotency key, two recipient
// addresses), then (without pre-claim) a Claim in batches by the
// dispatcher, one Advance recording one attempt and moving the message to
// sent with a receipt deadline, and one delivered RecordReceipt.
//
// It reports msgs/s through the whole lifecycle, the writer goroutine's CPU
// per message (writer-µs/msg) and the process's (cpu-µs/msg).
func BenchmarkLifecycle(b *testing.B) {
	for _, mode := range []struct {
		name       string
		preclaimed bool
	}{{"claim", false}, {"preclaimed", true}} {
		b.Run(mode.name, func(b *testing.B) { benchLifecycle(b, mode.preclaimed) })
	}
}

func benchLifecycle(b *testing.B, preclaimed bool) {
	s := benchStore(b)
	ctx := context.Background()
	const (
		producers = 64
		workers   = 64
		owner     = "dispatcher-1"
		lease     = 2 * time.Minute
	)
	n := int64(b.N)
	work := make(chan *store.Message, 1024)
	wake := make(chan struct{}, 1)
	var produced, claimed, done atomic.Int64
	var wg sync.WaitGroup

	stop := writerCPU(b, s)
	cpu0 := processCPU()
	start := time.Now()
	b.ResetTimer()

	for range producers {
		wg.Go(func() {
			for produced.Add(1) <= n {
				now := time.Now().UTC()
				id := uuid.Must(uuid.NewV7()).String()
				m := &store.Message{
					ID:               id,
					IdempotencyScope: "shop",
					IdempotencyKey:   "k-" + id,
					RequestHash:      "sha256:0123456789abcdef0123456789abcdef",
					Policy:           "otp",
					Route:            []string{"whatsapp", "sms"},
					To:               store.Recipient{Phone: "+15551234567", WhatsApp: "+15551234567"},
					Body:             "Your code is 123456",
					Tags:             []string{"otp"},
					Metadata:         map[string]string{"order": "42"},
					CreatedAt:        now,
					ExpiresAt:        now.Add(10 * time.Minute),
					NextAt:           now,
				}
				if preclaimed {
					m.LeaseOwner, m.LeaseUntil = owner, now.Add(lease)
				}
				stored, _, err := s.Enqueue(ctx, m)
				if err != nil {
					b.Error(err)
					return
				}
				if preclaimed {
					work <- stored
				} else {
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			}
		})
	}
	if !preclaimed {
		// The dispatcher's loop: claim up to the free workers' worth.
		wg.Go(func() {
			for claimed.Load() < n {
				ms, err := s.Claim(ctx, store.ClaimParams{Owner: owner, Lease: lease, Limit: 64, Now: time.Now()})
				if err != nil {
					b.Error(err)
					return
				}
				claimed.Add(int64(len(ms)))
				for _, m := range ms {
					work <- m
				}
				if len(ms) == 0 {
					select {
					case <-wake:
					case <-time.After(5 * time.Millisecond):
					}
				}
			}
		})
	}
	var workersWG sync.WaitGroup
	for range workers {
		workersWG.Go(func() {
			for m := range work {
				now := time.Now()
				pid := "wa-" + m.ID
				err := s.Advance(ctx, &store.Transition{
					MessageID: m.ID, Owner: owner,
					Attempts: []store.Attempt{{Seq: 1, Step: 0, Channel: "whatsapp", Status: store.AttemptSent,
						ProviderID: pid, Info: "1 segment", StartedAt: now}},
					Status: store.StatusSent, Channel: "whatsapp", Tries: 1,
					NextAt: now.Add(30 * time.Second), Now: now,
				})
				if err != nil {
					b.Error(err)
					continue
				}
				r, err := s.RecordReceipt(ctx, store.ReceiptParams{Channel: "whatsapp", ProviderID: pid,
					Status: store.AttemptDelivered, At: time.Now()})
				if err != nil || r.Status != store.StatusDelivered {
					b.Error(r, err)
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(work)
	workersWG.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	wcpu := stop()
	pcpu := processCPU() - cpu0
	if done.Load() != n {
		b.Fatalf("completed %d of %d", done.Load(), n)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(wcpu.Microseconds())/float64(n), "writer-µs/msg")
	b.ReportMetric(float64(pcpu.Microseconds())/float64(n), "cpu-µs/msg")
	b.ReportMetric(0, "ns/op")
}
