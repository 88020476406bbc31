package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
)

// TestCrashCampaign is the long crash campaign `make crash` runs
// (SWITCHBOARD_CRASH_ROUNDS rounds of SWITCHBOARD_CRASH_MESSAGES posts; it
// is skipped when SWITCHBOARD_CRASH_ROUNDS is unset, so `make test` only
// runs the short TestCrashLosesNothing). Each round restarts the gateway
// on the same SQLite file, puts WhatsApp in a random sim mode (up, flaky,
// blackhole, timeout: failovers, receipt deadlines and ambiguous sends in
// flight), posts concurrently and SIGKILLs the process at a random moment:
// early or late in the posting, or after it, mid-dispatch. After the last
// round it restarts once more and accounts for every 202:
//
//   - none lost: every accepted id is found and reaches a final status;
//   - failed and expired messages say why (last_error; the attempt that
//     ended the route has an error or a failover reason);
//   - attempts are numbered 1..n with no gap;
//   - a message delivered more than once (duplicate flag, or two delivered
//     attempts) has an attempt recorded ambiguous or a late receipt: a
//     duplicate is never silent.
func TestCrashCampaign(t *testing.T) {
	if os.Getenv("SWITCHBOARD_CRASH_ROUNDS") == "" {
		t.Skip("set SWITCHBOARD_CRASH_ROUNDS (make crash) to run the crash campaign")
	}
	rounds := envInt(t, "SWITCHBOARD_CRASH_ROUNDS", 5)
	perRound := envInt(t, "SWITCHBOARD_CRASH_MESSAGES", 2000)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SWITCHBOARD_CRASH_SEED"); s != "" {
		_, err := fmt.Sscan(s, &seed)
		require.NoError(t, err, "SWITCHBOARD_CRASH_SEED")
	}
	t.Logf("seed %d (SWITCHBOARD_CRASH_SEED=%d reproduces the kill points and modes)", seed, seed)
	rnd := rand.New(rand.NewPCG(seed, seed^0x5eed))

	cfg := fastConfig()
	for _, ch := range cfg.Channels {
		ch.Latency, ch.ReceiptDelay, ch.ProbeInterval = "2ms", "20ms", "1s"
	}
	cfg.Lease = "5s"
	cfg.Poll = "50ms"
	cfg.ReceiptTimeout = map[string]string{"whatsapp": "2s", "sms": "2s", "email": "2s"}
	g := startGateway(t, cfg)

	modes := []string{"up", "up", "flaky", "blackhole", "timeout"}
	var accepted []string
	for round := 1; round <= rounds; round++ {
		if round > 1 {
			g.restart(t)
		}
		mode := modes[rnd.IntN(len(modes))]
		g.setSim(t, "whatsapp", mode)
		// Where to kill: after a random share of the posts were accepted
		// (5-95 %), or (one round in four) after all of them, a random
		// 0-1.5 s into the dispatch of the backlog.
		frac, after := 0.05+0.9*rnd.Float64(), time.Duration(0)
		if rnd.IntN(4) == 0 {
			frac, after = 1, time.Duration(rnd.Int64N(int64(1500*time.Millisecond)))
		}
		jitter := time.Duration(rnd.Int64N(int64(50 * time.Millisecond)))
		ids := postAndKillAt(t, g, round, perRound, frac, after+jitter)
		t.Logf("round %d: whatsapp %s, kill after %.0f%% accepted + %s: %d of %d accepted", round, mode, frac*100, after+jitter, len(ids), perRound)
		require.NotEmpty(t, ids)
		accepted = append(accepted, ids...)
	}
	g.restart(t)
	g.setSim(t, "whatsapp", "up")

	final := waitAllFinal(t, g, accepted)
	byStatus := map[string]int{}
	var ambiguous, late, dups, fallbacks int
	for _, id := range accepted {
		m, ok := final[id]
		if !ok {
			continue // reported by waitAllFinal
		}
		byStatus[m.Status]++
		if m.IsFallback {
			fallbacks++
		}
		delivered, hasAmbiguous, hasLate := 0, false, false
		for i, a := range m.Attempts {
			if a.Seq != i+1 {
				t.Errorf("message %s: attempt %d has seq %d (%v)", id, i+1, a.Seq, steps(m))
				break
			}
			if a.Status == "delivered" || a.Status == "read" {
				delivered++
			}
			if a.Ambiguous {
				ambiguous++
				hasAmbiguous = true
			}
			if a.Late {
				late++
				hasLate = true
			}
		}
		switch m.Status {
		case "delivered", "read":
		case "failed", "expired":
			if m.LastError == "" {
				t.Errorf("message %s is %s without a last_error", id, m.Status)
			}
			if n := len(m.Attempts); m.Status == "failed" && n > 0 {
				if a := m.Attempts[n-1]; a.Error == "" && a.FailoverReason == "" {
					t.Errorf("message %s failed; its last attempt says neither error nor reason: %v", id, steps(m))
				}
			}
		default:
			t.Errorf("message %s ended %s", id, m.Status)
		}
		if m.Duplicate || delivered > 1 {
			dups++
			if !hasAmbiguous && !hasLate {
				t.Errorf("message %s delivered %d times with no attempt recorded ambiguous or late: %v", id, delivered, steps(m))
			}
		}
	}
	statuses := make([]string, 0, len(byStatus))
	for s := range byStatus {
		statuses = append(statuses, s)
	}
	sort.Strings(statuses)
	summary := ""
	for _, s := range statuses {
		summary += fmt.Sprintf(" %s=%d", s, byStatus[s])
	}
	t.Logf("campaign: %d accepted over %d round(s), %d final:%s", len(accepted), rounds, len(final), summary)
	t.Logf("campaign: fallbacks=%d ambiguous attempts=%d late receipts=%d duplicates=%d (each with an ambiguous or late attempt)",
		fallbacks, ambiguous, late, dups)
}

// postAndKillAt posts n messages from crashPosters goroutines and SIGKILLs
// the gateway once frac of them were accepted, plus delay. It returns the
// ids that got a 202.
func postAndKillAt(t *testing.T, g *gateway, round, n int, frac float64, delay time.Duration) []string {
	t.Helper()
	c := client.New(g.URL, sendKey)
	c.HTTP = &http.Client{Timeout: 10 * time.Second}
	// One try per post: a post that dies with the process is simply not
	// accepted, and retrying it against a dead port only slows the test.
	c.Retry.MaxAttempts = 1

	var (
		next, ok, connErrs atomic.Int64
		killed             atomic.Bool
		mu                 sync.Mutex
		ids                = make([]string, 0, n)
		apiErrs            []error
		wg                 sync.WaitGroup
	)
	for range crashPosters {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				res, err := c.Send(context.Background(), otp(round*1_000_000+i), "")
				var ae *client.Error
				switch {
				case err == nil:
					ok.Add(1)
					mu.Lock()
					ids = append(ids, res.ID)
					mu.Unlock()
				case errors.As(err, &ae):
					// The gateway answered and refused: with valid
					// requests, that is a failure unless it was dying.
					if !killed.Load() {
						mu.Lock()
						apiErrs = append(apiErrs, err)
						mu.Unlock()
					}
				default:
					connErrs.Add(1)
				}
			}
		})
	}
	want := max(1, int64(frac*float64(n)))
	eventually(t, crashHalfTimeout, fmt.Sprintf("%d posts to be accepted", want), func() (bool, string) {
		return ok.Load() >= want || next.Load() >= int64(n)+crashPosters, fmt.Sprintf("%d accepted", ok.Load())
	})
	if frac >= 1 {
		wg.Wait()
	}
	time.Sleep(delay)
	killed.Store(true)
	g.kill(t)
	t.Logf("round %d: SIGKILL after %d accepted (%d posts started)", round, ok.Load(), min(next.Load(), int64(n)))
	wg.Wait()
	t.Logf("round %d: %d posts failed with connection errors (not accepted)", round, connErrs.Load())
	for i, err := range apiErrs {
		if i == 10 {
			t.Errorf("... and %d more API errors", len(apiErrs)-10)
			break
		}
		t.Errorf("post refused by a live gateway: %v", err)
	}
	return ids
}
