package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
)

const (
	crashPosters     = 16
	crashSettle      = 60 * time.Second // bound for every accepted message to become final
	crashHalfTimeout = 60 * time.Second // bound for half of a round to be accepted
)

func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "%s", name)
	require.Positive(t, n, "%s", name)
	return n
}

// TestCrashLosesNothing posts messages concurrently, SIGKILLs the gateway
// while posts and dispatch are in flight, restarts it on the same SQLite
// file and checks that every message that got a 202 is there and ends.
// `make crash` runs more and longer rounds (SWITCHBOARD_CRASH_ROUNDS,
// SWITCHBOARD_CRASH_MESSAGES).
func TestCrashLosesNothing(t *testing.T) {
	// Not parallel: it loads the machine, and runs alone before the
	// parallel tests start.
	rounds := envInt(t, "SWITCHBOARD_CRASH_ROUNDS", 1)
	perRound := envInt(t, "SWITCHBOARD_CRASH_MESSAGES", 2000)

	cfg := fastConfig()
	for _, ch := range cfg.Channels {
		ch.Latency, ch.ReceiptDelay, ch.ProbeInterval = "2ms", "20ms", "1s"
	}
	// A short lease: the restarted process takes over the dead one's claims
	// after it. Receipt deadlines on every channel: the sim's pending
	// receipts die with the process, and a message must not wait forever
	// for a receipt that will never come.
	cfg.Lease = "5s"
	cfg.Poll = "50ms"
	cfg.ReceiptTimeout = map[string]string{"whatsapp": "2s", "sms": "2s", "email": "2s"}
	g := startGateway(t, cfg)

	var accepted []string
	for round := 1; round <= rounds; round++ {
		if round > 1 {
			g.restart(t)
		}
		ids := postAndKill(t, g, round, perRound)
		t.Logf("round %d: %d of %d posts accepted before and during the SIGKILL", round, len(ids), perRound)
		require.NotEmpty(t, ids)
		accepted = append(accepted, ids...)
	}
	g.restart(t)

	final := waitAllFinal(t, g, accepted)

	byStatus := map[string]int{}
	var ambiguous, duplicates, fallbacks int
	for _, id := range accepted {
		m, ok := final[id]
		if !ok {
			continue // reported by waitAllFinal
		}
		byStatus[m.Status]++
		if m.Duplicate {
			duplicates++
		}
		if m.IsFallback {
			fallbacks++
		}
		for _, a := range m.Attempts {
			if a.Ambiguous {
				ambiguous++
			}
		}
		switch m.Status {
		case "delivered", "read":
		case "failed", "expired":
			if m.LastError == "" {
				t.Errorf("message %s is %s without a last_error", id, m.Status)
			}
		default:
			t.Errorf("message %s ended %s", id, m.Status)
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
	t.Logf("%d accepted over %d round(s), %d final:%s", len(accepted), rounds, len(final), summary)
	t.Logf("fallbacks=%d ambiguous attempts=%d duplicate messages=%d", fallbacks, ambiguous, duplicates)
}

// postAndKill posts n messages from crashPosters goroutines and SIGKILLs
// the gateway once half of them were accepted. It returns the ids that got
// a 202; posts that failed (the connection died) are not accepted.
func postAndKill(t *testing.T, g *gateway, round, n int) []string {
	t.Helper()
	return postAndKillAt(t, g, round, n, 0.5, 0)
}

// waitAllFinal polls every id until all are final or crashSettle passes.
// An accepted id that is not found was lost: the test fails.
func waitAllFinal(t *testing.T, g *gateway, ids []string) map[string]*client.Message {
	t.Helper()
	return waitAllFinalWithin(t, g, ids, crashSettle)
}

// waitAllFinalWithin is waitAllFinal with its bound.
func waitAllFinalWithin(t *testing.T, g *gateway, ids []string, settle time.Duration) map[string]*client.Message {
	t.Helper()
	final := make(map[string]*client.Message, len(ids))
	pending := append([]string(nil), ids...)
	lost := map[string]bool{}
	deadline := time.Now().Add(settle)
	for len(pending) > 0 {
		var (
			mu    sync.Mutex
			still []string
			wg    sync.WaitGroup
			work  = make(chan string)
		)
		for range 8 {
			wg.Go(func() {
				for id := range work {
					m, err := g.Read.Get(context.Background(), id)
					mu.Lock()
					var ae *client.Error
					switch {
					case err == nil && isFinal(m.Status):
						final[id] = m
					case errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound:
						lost[id] = true
					default:
						still = append(still, id)
					}
					mu.Unlock()
				}
			})
		}
		for _, id := range pending {
			work <- id
		}
		close(work)
		wg.Wait()
		if len(lost) > 0 {
			break
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for i, id := range pending {
				if i == 10 {
					break
				}
				if m, err := g.Read.Get(context.Background(), id); err == nil {
					t.Logf("not final: %s status %s attempts %v", id, m.Status, steps(m))
				} else {
					t.Logf("not final: %s: %v", id, err)
				}
			}
			t.Fatalf("%d of %d accepted messages not final within %s", len(pending), len(ids), settle)
		}
		time.Sleep(100 * time.Millisecond) // pace the polling of a large set
	}
	if len(lost) > 0 {
		n := 0
		for id := range lost {
			if n++; n <= 10 {
				t.Errorf("accepted message %s is gone after the crash (GET 404)", id)
			}
		}
		t.Fatalf("%d of %d accepted messages lost", len(lost), len(ids))
	}
	return final
}
