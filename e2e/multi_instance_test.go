package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
	"github.com/switchboard-gw/switchboard/internal/testpg"
)

const (
	multiInstances = 3
	multiPosters   = 24
)

// TestMultiInstancePostgres runs three gateways on one PostgreSQL database,
// posts messages round-robin to them, SIGKILLs one mid-run and restarts it,
// and checks in the database that every accepted message ends delivered,
// none is lost, and no message was accepted twice by one channel unless an
// attempt says it may have been (ambiguous). SWITCHBOARD_MULTI_MESSAGES sets
// the count (default 10000, as the issue asks).
func TestMultiInstancePostgres(t *testing.T) {
	// Not parallel: it loads the machine.
	n := envInt(t, "SWITCHBOARD_MULTI_MESSAGES", 10000)
	cluster := testpg.Start(t)
	dsn := cluster.DB(t)

	cfg := fastConfig()
	for _, ch := range cfg.Channels {
		ch.Latency, ch.ReceiptDelay, ch.ProbeInterval = "2ms", "20ms", "1s"
	}
	// As in the crash test: a short lease so the dead instance's claims are
	// taken over soon, and receipt deadlines everywhere because the sim's
	// pending receipts die with its process.
	cfg.Lease, cfg.Poll = "5s", "50ms"
	cfg.ReceiptTimeout = map[string]string{"whatsapp": "2s", "sms": "2s", "email": "2s"}
	cfg.DSN = dsn

	gws := make([]*gateway, multiInstances)
	for i := range gws {
		gws[i] = startPostgresGateway(t, cfg)
	}

	start := time.Now()
	ids, killedAt := postRoundRobin(t, gws, n, 1)
	posted := time.Since(start)
	t.Logf("%d messages accepted by %d instances in %s (%.0f/s); instance 1 SIGKILLed after %d accepted and restarted",
		len(ids), multiInstances, posted.Round(time.Millisecond), float64(len(ids))/posted.Seconds(), killedAt)
	require.Len(t, ids, n, "every message is accepted by some instance (posts to the dead one retried elsewhere with the same idempotency key)")

	ctx := context.Background()
	db, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer db.Close(ctx)

	settle := max(90*time.Second, time.Duration(n)*20*time.Millisecond)
	settleStart := time.Now()
	eventually(t, settle, "every accepted message to be final", func() (bool, string) {
		var pending int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE id = ANY($1) AND status IN ('queued', 'sending', 'sent')`, ids).Scan(&pending); err != nil {
			return false, err.Error()
		}
		return pending == 0, fmt.Sprintf("%d not final", pending)
	})
	t.Logf("all final %s after the last post", time.Since(settleStart).Round(time.Millisecond))

	// None lost.
	var found int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE id = ANY($1)`, ids).Scan(&found))
	require.Equal(t, n, found, "accepted messages missing from the database")

	// Every one delivered.
	rows, err := db.Query(ctx, `SELECT status, count(*) FROM messages WHERE id = ANY($1) GROUP BY status ORDER BY status`, ids)
	require.NoError(t, err)
	byStatus := map[string]int{}
	for rows.Next() {
		var (
			s string
			c int
		)
		require.NoError(t, rows.Scan(&s, &c))
		byStatus[s] = c
	}
	require.NoError(t, rows.Err())
	t.Logf("final statuses: %v", byStatus)
	require.Equal(t, n, byStatus["delivered"]+byStatus["read"], "every message ends delivered")

	// Sends per message and channel, from the recorded attempts: two
	// attempts the provider accepted on one channel are a double send,
	// allowed only when an attempt says it may be one (ambiguous).
	var doubles, ambiguousDoubles, ambiguous, fallbacks, duplicates int
	require.NoError(t, db.QueryRow(ctx, `
		WITH sends AS (
			SELECT message_id, channel, count(*) AS n, bool_or(ambiguous) AS amb
			FROM attempts
			WHERE message_id = ANY($1) AND status IN ('sent', 'delivered', 'read', 'undelivered')
			GROUP BY message_id, channel)
		SELECT
			(SELECT count(*) FROM sends WHERE n > 1 AND NOT amb),
			(SELECT count(*) FROM sends WHERE n > 1 AND amb),
			(SELECT count(*) FROM attempts WHERE message_id = ANY($1) AND ambiguous),
			(SELECT count(*) FROM messages WHERE id = ANY($1) AND step > 0),
			(SELECT count(*) FROM messages WHERE id = ANY($1) AND duplicate)`, ids).
		Scan(&doubles, &ambiguousDoubles, &ambiguous, &fallbacks, &duplicates))
	t.Logf("ambiguous attempts=%d, double sends on one channel: %d marked ambiguous, %d unmarked; fallbacks=%d duplicate deliveries=%d",
		ambiguous, ambiguousDoubles, doubles, fallbacks, duplicates)
	require.Zero(t, doubles, "messages sent twice on one channel with no attempt marked ambiguous")

	var leased int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE lease_owner <> '' AND status IN ('queued', 'sending', 'sent')`).Scan(&leased))
	require.Zero(t, leased, "no unfinished message is left leased")
}

// startPostgresGateway is startGateway on cfg.DSN's PostgreSQL database.
func startPostgresGateway(t *testing.T, cfg *gwConfig) *gateway {
	t.Helper()
	dir := t.TempDir()
	var buf bytes.Buffer
	require.NoError(t, configTemplate.Execute(&buf, cfg))
	yaml := strings.Replace(buf.String(), "driver: sqlite", "driver: postgres", 1)
	require.NotEqual(t, buf.String(), yaml, "the config template names its store driver")
	g := &gateway{
		t: t, dir: dir,
		cfgPath: filepath.Join(dir, "switchboard.yaml"),
		logPath: filepath.Join(dir, "switchboard.log"),
	}
	require.NoError(t, os.WriteFile(g.cfgPath, []byte(yaml), 0o600))
	t.Cleanup(func() {
		if g.running() {
			g.stop(t)
		}
		if t.Failed() {
			g.dumpLog(t)
		}
	})
	g.start(t)
	return g
}

// postRoundRobin posts n messages, message i to gws[i%len(gws)], from
// multiPosters goroutines. Once a third are accepted it SIGKILLs
// gws[victim] and restarts it while the posts go on. A post that fails
// for want of a live gateway is sent again, with the same idempotency key,
// to the next instance: a post the dead one stored before dying is then
// replayed, not stored twice. It returns the accepted ids (one per
// message) and how many were accepted at the kill.
func postRoundRobin(t *testing.T, gws []*gateway, n, victim int) ([]string, int64) {
	t.Helper()
	clients := make([]*client.Client, len(gws))
	urls := make([]string, len(gws))
	for i, g := range gws {
		urls[i] = g.URL
	}
	var urlMu sync.RWMutex // the restarted instance listens on a new port
	clientFor := func(i int) *client.Client {
		urlMu.RLock()
		defer urlMu.RUnlock()
		return clients[i]
	}
	mkClient := func(url string) *client.Client {
		c := client.New(url, sendKey)
		c.HTTP = &http.Client{Timeout: 10 * time.Second}
		c.Retry.MaxAttempts = 1
		return c
	}
	for i := range gws {
		clients[i] = mkClient(urls[i])
	}

	var (
		next, ok atomic.Int64
		mu       sync.Mutex
		ids      = make([]string, n)
		failures []error
		wg       sync.WaitGroup
	)
	for range multiPosters {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				req := otp(7_000_000 + i)
				key := fmt.Sprintf("multi-%d", i)
				var lastErr error
				for try := 0; try < 40; try++ {
					res, err := clientFor((i+try)%len(gws)).Send(context.Background(), req, key)
					if err == nil {
						ids[i] = res.ID
						ok.Add(1)
						lastErr = nil
						break
					}
					lastErr = err
					var ae *client.Error
					if errors.As(err, &ae) && ae.StatusCode < 500 {
						break // refused by a live gateway: a failure
					}
					time.Sleep(50 * time.Millisecond)
				}
				if lastErr != nil {
					mu.Lock()
					failures = append(failures, fmt.Errorf("message %d: %w", i, lastErr))
					mu.Unlock()
				}
			}
		})
	}
	eventually(t, 2*time.Minute, "a third of the posts to be accepted", func() (bool, string) {
		return ok.Load() >= int64(n/3) || next.Load() >= int64(n), fmt.Sprintf("%d accepted", ok.Load())
	})
	killedAt := ok.Load()
	gws[victim].kill(t)
	gws[victim].restart(t)
	urlMu.Lock()
	clients[victim] = mkClient(gws[victim].URL)
	urlMu.Unlock()
	wg.Wait()
	for i, err := range failures {
		if i == 10 {
			t.Errorf("... and %d more failed posts", len(failures)-10)
			break
		}
		t.Errorf("post failed: %v", err)
	}
	var out []string
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	return out, killedAt
}
