package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
	"github.com/switchboard-gw/switchboard/internal/pgcluster"
	"github.com/switchboard-gw/switchboard/internal/testpg"
)

// PostgreSQL fault scenarios (issue 15): one of three instances killed
// with SIGKILL (pg-kill9) and a PostgreSQL restart under load (pg-restart)
// are scenarios of the fault campaign (faults_test.go: short in `make
// test`, long in `make faults`); a send longer than the lease is a test
// of its own.
//
//	SWITCHBOARD_PG_LEASE  dispatch.lease of pg-kill9 (default 10s, the default)

// pgFaultSettle bounds how long the accepted messages may take to be
// final: generous, a shared machine; the times are reported, not asserted.
const pgFaultSettle = 3 * time.Minute

// pgFaultConfig is the config of the fault scenarios: the default lease
// (10s), slow enough sends that an instance always holds some in flight,
// and receipt deadlines everywhere, because a killed instance's sim
// receipts die with it.
func pgFaultConfig(dsn string) *gwConfig {
	cfg := fastConfig()
	for _, ch := range cfg.Channels {
		ch.Latency, ch.ReceiptDelay, ch.ProbeInterval = "300ms", "20ms", "1s"
	}
	cfg.Lease, cfg.Poll = "10s", "50ms" // 10s: dispatch.lease's default
	cfg.ReceiptTimeout = map[string]string{"whatsapp": "2s", "sms": "2s", "email": "2s"}
	cfg.DSN = dsn
	return cfg
}

// leaseOwnerPrefix is the start of the lease owner of the gateway process
// (hostname/pid/...; see gateway.New).
func (g *gateway) leaseOwnerPrefix(t testing.TB) string {
	t.Helper()
	host, err := os.Hostname()
	require.NoError(t, err)
	return fmt.Sprintf("%s/%d/", host, g.proc.cmd.Process.Pid)
}

// poster posts OTPs to a set of gateways from several goroutines until
// stopped. A post is retried, with the same idempotency key, until a 202
// (on 503 after a short pause, on a dead gateway at the next one), so a
// message stored but not answered is replayed, not stored twice. It
// records every HTTP status it saw and which gateway answered each 202.
type poster struct {
	t    testing.TB
	mu   sync.Mutex
	gws  []*gateway
	dead map[int]bool

	next     atomic.Int64
	accepted atomic.Int64
	stop     atomic.Bool
	wg       sync.WaitGroup

	req  func(n int) *client.SendRequest // message n; otp by default
	pace time.Duration                   // each worker's pause after a 202

	ids      map[string]int // accepted id -> index of the gateway that answered 202
	statuses map[int]int    // HTTP status -> count (0: no HTTP answer)
	bad      []string       // answers other than 202 or 503 unavailable with Retry-After
	times202 []time.Time
	times503 []time.Time
}

// base numbers the messages (see otp: +1555 and seven digits, so base plus
// the messages posted must stay under 10,000,000 for a number of a length
// the US uses; a longer one is refused as invalid_recipient).
func newPoster(t testing.TB, gws []*gateway, workers, base int) *poster {
	return newPosterOf(t, gws, workers, base, otp, 0)
}

// newPosterOf is newPoster posting req(n) as message n, each worker
// pausing pace after each 202.
func newPosterOf(t testing.TB, gws []*gateway, workers, base int, req func(n int) *client.SendRequest, pace time.Duration) *poster {
	p := &poster{t: t, gws: gws, dead: map[int]bool{}, ids: map[string]int{}, statuses: map[int]int{}, req: req, pace: pace}
	p.next.Store(int64(base))
	for range workers {
		p.wg.Go(p.run)
	}
	return p
}

func (p *poster) client(i int) (*client.Client, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i %= len(p.gws)
	if p.dead[i] {
		return nil, false
	}
	c := client.New(p.gws[i].URL, sendKey)
	c.HTTP = &http.Client{Timeout: 10 * time.Second}
	c.Retry.MaxAttempts = 1
	return c, true
}

// markDead stops posting to gateway i (it was killed).
func (p *poster) markDead(i int) {
	p.mu.Lock()
	p.dead[i] = true
	p.mu.Unlock()
}

func (p *poster) run() {
	for !p.stop.Load() {
		n := int(p.next.Add(1))
		req := p.req(n)
		key := fmt.Sprintf("pgfault-%d", n)
		for try := 0; !p.stop.Load() || try == 0; try++ {
			c, ok := p.client(n + try)
			if !ok {
				continue
			}
			res, err := c.Send(context.Background(), req, key)
			status := 0
			var ae *client.Error
			switch {
			case err == nil:
				status = http.StatusAccepted
			case errors.As(err, &ae):
				status = ae.StatusCode
			}
			p.mu.Lock()
			p.statuses[status]++
			switch {
			case err == nil:
				p.ids[res.ID] = (n + try) % len(p.gws)
				p.times202 = append(p.times202, time.Now())
				p.accepted.Add(1)
			case ae != nil && ae.StatusCode == http.StatusServiceUnavailable && ae.Code == "unavailable" && ae.RetryAfter > 0:
				p.times503 = append(p.times503, time.Now())
			case ae != nil:
				p.bad = append(p.bad, fmt.Sprintf("message %d: %v (Retry-After %s)", n, err, ae.RetryAfter))
			case !p.dead[(n+try)%len(p.gws)]:
				// No HTTP answer from a gateway that is meant to be up.
				p.bad = append(p.bad, fmt.Sprintf("message %d: %v", n, err))
			}
			p.mu.Unlock()
			if err == nil {
				time.Sleep(p.pace)
				break
			}
			if ae != nil && ae.StatusCode != http.StatusServiceUnavailable {
				break
			}
			time.Sleep(20 * time.Millisecond)
			if try > 2000 {
				p.t.Errorf("message %d: still not accepted after %d tries: %v", n, try, err)
				break
			}
		}
	}
}

// waitAccepted waits until n more messages were accepted.
func (p *poster) waitAccepted(t testing.TB, n int64, what string) {
	t.Helper()
	target := p.accepted.Load() + n
	eventually(t, 2*time.Minute, what, func() (bool, string) {
		return p.accepted.Load() >= target, fmt.Sprintf("%d of %d accepted", p.accepted.Load(), target)
	})
}

// firstAfter is the first of times after at (zero if none).
func firstAfter(times []time.Time, at time.Time) time.Time {
	for _, ts := range times {
		if ts.After(at) {
			return ts
		}
	}
	return time.Time{}
}

// outage is what clients saw of a database outage between from and to:
// the first and the last 503, and the first 202 after the last 503 (zero
// times if there was no 503).
func (p *poster) outage(from, to time.Time) (first503, last503, back time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ts := range p.times503 {
		if ts.After(from) && ts.Before(to) {
			if first503.IsZero() {
				first503 = ts
			}
			last503 = ts
		}
	}
	if !last503.IsZero() {
		back = firstAfter(p.times202, last503)
	}
	return first503, last503, back
}

// finish stops the posters and returns the accepted ids.
func (p *poster) finish() map[string]int {
	p.stop.Store(true)
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ids
}

// pgCounts is what every fault scenario reports about its messages.
type pgCounts struct {
	accepted, delivered, lost int
	ambiguous, doubles        int // attempts flagged ambiguous; unflagged double sends on one channel
	flagged                   int // messages with an ambiguous attempt or the duplicate flag
}

// waitDelivered waits until every id is final in the database, then checks
// none is lost, every one was delivered, and no message was sent twice on
// one channel unless an attempt says it may have been (ambiguous).
func waitDelivered(t *testing.T, db *pgx.Conn, ids []string) pgCounts {
	t.Helper()
	seen := map[string]bool{}
	uniq := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	ids = uniq
	ctx := context.Background()
	eventually(t, pgFaultSettle, "every accepted message to be final", func() (bool, string) {
		var pending int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE id = ANY($1) AND status IN ('queued', 'sending', 'sent')`, ids).Scan(&pending); err != nil {
			return false, err.Error()
		}
		return pending == 0, fmt.Sprintf("%d not final", pending)
	})
	c := pgCounts{accepted: len(ids)}
	var found int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status IN ('delivered', 'read')) FROM messages WHERE id = ANY($1)`, ids).
		Scan(&found, &c.delivered))
	c.lost = len(ids) - found
	require.NoError(t, db.QueryRow(ctx, `
		WITH sends AS (
			SELECT message_id, channel, count(*) AS n, bool_or(ambiguous) AS amb
			FROM attempts
			WHERE message_id = ANY($1) AND status IN ('sent', 'delivered', 'read', 'undelivered')
			GROUP BY message_id, channel)
		SELECT
			(SELECT count(*) FROM attempts WHERE message_id = ANY($1) AND ambiguous),
			(SELECT count(*) FROM sends WHERE n > 1 AND NOT amb),
			(SELECT count(*) FROM messages m WHERE m.id = ANY($1)
				AND (m.duplicate OR EXISTS (SELECT 1 FROM attempts a WHERE a.message_id = m.id AND a.ambiguous)))`, ids).
		Scan(&c.ambiguous, &c.doubles, &c.flagged))
	require.Zero(t, c.lost, "accepted messages missing from the database")
	require.Equal(t, len(ids), c.delivered, "every accepted message ends delivered")
	require.Zero(t, c.doubles, "messages sent twice on one channel with no attempt marked ambiguous")
	return c
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// pgKill9 runs three gateways on one database, posts to all of them, and
// SIGKILLs one while it holds messages in flight (it is not restarted).
// The messages it held are taken over by the others once their leases run
// out, with no one restarting anything: every accepted message ends
// delivered. Time to recover: from the kill until every message the dead
// instance held or had accepted is final (reported, not asserted).
func pgKill9(t *testing.T, size faultSize) faultResult {
	n := size.messages
	cluster := testpg.Start(t)
	dsn := cluster.DB(t)
	cfg := pgFaultConfig(dsn)
	if l := os.Getenv("SWITCHBOARD_PG_LEASE"); l != "" {
		cfg.Lease = l
	}
	gws := make([]*gateway, 3)
	for i := range gws {
		gws[i] = startPostgresGateway(t, cfg)
	}
	ctx := context.Background()
	db, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer db.Close(ctx)

	const victim = 1
	owner := gws[victim].leaseOwnerPrefix(t)
	p := newPoster(t, gws, 24, 8_000_000)
	p.waitAccepted(t, int64(n/3), "a third of the posts to be accepted")
	p.markDead(victim) // first: posts in flight to it fail with no HTTP answer
	gws[victim].kill(t)
	killedAt := time.Now()

	// What the dead instance held: messages it accepted and was sending,
	// or had claimed. Nobody else may touch them until their leases end.
	var held []string
	rows, err := db.Query(ctx, `SELECT id FROM messages WHERE lease_owner LIKE $1 || '%'`, owner)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		held = append(held, id)
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, held, "the kill must catch the instance with messages in flight, or the test proves nothing")

	p.waitAccepted(t, int64(n-n/3), "the rest of the posts to be accepted")
	accepted := p.finish()
	require.Empty(t, p.bad, "only 202s (and 503s) from the live instances")
	var byVictim []string
	for id, gw := range accepted {
		if gw == victim {
			byVictim = append(byVictim, id)
		}
	}
	require.NotEmpty(t, byVictim)

	// Every message the dead instance accepted (and every one it held,
	// some accepted by others and claimed by it) is final.
	eventually(t, pgFaultSettle, "the dead instance's messages to be final", func() (bool, string) {
		var pending int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE (id = ANY($1) OR id = ANY($2)) AND status IN ('queued', 'sending', 'sent')`, byVictim, held).Scan(&pending); err != nil {
			return false, err.Error()
		}
		return pending == 0, fmt.Sprintf("%d not final", pending)
	})
	allFinal := time.Since(killedAt)
	c := waitDelivered(t, db, append(keys(accepted), held...))

	// Resume time: when the last held message got its first attempt after
	// the kill (the takeover's send, flagged ambiguous, or the next step).
	var resumed time.Time
	require.NoError(t, db.QueryRow(ctx, `
		SELECT max(first) FROM (
			SELECT min(started_at) AS first FROM attempts
			WHERE message_id = ANY($1) AND started_at > $2
			GROUP BY message_id) AS f`, held, killedAt).Scan(&resumed))
	var leftLeased int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE lease_owner LIKE $1 || '%' AND status IN ('queued', 'sending', 'sent')`, owner).Scan(&leftLeased))
	require.Zero(t, leftLeased, "no unfinished message is left leased to the dead instance")

	t.Logf("SIGKILL of 1 of 3 instances (lease %s): it held %d messages and had accepted %d; "+
		"the last held message resumed %s after the kill; all of its messages final %s after the kill",
		cfg.Lease, len(held), len(byVictim), resumed.Sub(killedAt).Round(10*time.Millisecond), allFinal.Round(10*time.Millisecond))
	t.Logf("accepted=%d delivered=%d lost=%d ambiguous attempts=%d unflagged double sends=%d; HTTP statuses %v",
		c.accepted, c.delivered, c.lost, c.ambiguous, c.doubles, p.statuses)
	return faultResult{
		accepted: c.accepted, delivered: c.delivered, lost: c.lost, duplicates: c.flagged, recover: allFinal,
		note: fmt.Sprintf("lease %s; it held %d messages in flight, the last resumed %s after the kill",
			cfg.Lease, len(held), resumed.Sub(killedAt).Round(10*time.Millisecond)),
	}
}

// TestPostgresLongSendKeepsLease: a provider call 2.5 times longer than
// the lease is not taken over by another instance while the instance
// making it lives: its lease is renewed during the call, so each message
// is sent once, with no attempt flagged ambiguous.
func TestPostgresLongSendKeepsLease(t *testing.T) {
	t.Parallel()
	cluster := testpg.Start(t)
	dsn := cluster.DB(t)
	cfg := fastConfig()
	// 2s: renewed every 667ms, so a loaded machine has to stall renewal
	// for two seconds to cause a takeover; the send lasts 2.5 leases.
	cfg.Lease, cfg.Poll = "2s", "20ms"
	// Probes go through the same slow provider: off, so whatsapp stays
	// healthy and a takeover would send on it again.
	cfg.channel("whatsapp").Latency, cfg.channel("whatsapp").NoProbe = "5s", true
	cfg.ReceiptTimeout = map[string]string{"whatsapp": "1m"}
	cfg.DSN = dsn
	a := startPostgresGateway(t, cfg)
	startPostgresGateway(t, cfg) // another instance, polling every 20ms for due work

	var ids []string
	for i := range 8 {
		ids = append(ids, a.send(t, otp(9_000_000+i)))
	}
	ctx := context.Background()
	db, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer db.Close(ctx)
	// Who holds each message's lease, until all are final: the attempts
	// table keeps one row per (message, seq), and a takeover's send would
	// reuse seq 1, so the owners seen are the evidence. A takeover holds
	// the lease for its whole 5s send: a 20ms poll cannot miss it.
	owners := map[string]bool{}
	eventually(t, pgFaultSettle, "every message to be final", func() (bool, string) {
		rows, err := db.Query(ctx, `SELECT lease_owner, status FROM messages WHERE id = ANY($1)`, ids)
		if err != nil {
			return false, err.Error()
		}
		defer rows.Close()
		final := 0
		for rows.Next() {
			var owner, status string
			if err := rows.Scan(&owner, &status); err != nil {
				return false, err.Error()
			}
			if owner != "" {
				owners[owner] = true
			}
			if isFinal(status) {
				final++
			}
		}
		return final == len(ids), fmt.Sprintf("%d of %d final", final, len(ids))
	})
	mine := a.leaseOwnerPrefix(t)
	for owner := range owners {
		require.True(t, strings.HasPrefix(owner, mine), "lease owner %s seen: another instance took a message over while its owner lived", owner)
	}
	c := waitDelivered(t, db, ids)
	for _, id := range ids {
		m := a.waitFinal(t, id)
		require.Equal(t, "whatsapp", m.Channel, "%s: delivered by the first channel", id)
		require.Len(t, m.Attempts, 1, "%s: sent once, by the instance that held it", id)
		require.False(t, m.Attempts[0].Ambiguous, "%s: no takeover while its owner lived", id)
		require.False(t, m.Duplicate, id)
	}
	require.Zero(t, c.ambiguous)
	t.Logf("lease %s, send %s: %d messages sent once each; lease owners seen: %d", cfg.Lease, cfg.channel("whatsapp").Latency, len(ids), len(owners))
}

// pgRestart restarts PostgreSQL (a fast shutdown: every connection
// dropped) while clients post to two gateways and read messages back.
// While the database is down, sends get 503 unavailable with a
// Retry-After, reads get 503 unavailable too (or 200: never 500), and
// /readyz answers 503; the gateways reconnect by themselves (no gateway
// restart) and every 202 ends delivered. Time to recover: from the fast
// shutdown until sends are accepted again (the first 202 after the last
// 503), as clients see the outage; the longest over the restarts. It
// includes the time PostgreSQL is down (1 s short, 5 s long, plus its
// shutdown and start).
func pgRestart(t *testing.T, size faultSize) faultResult {
	restarts, down := 1, time.Second
	if size.long {
		restarts, down = 3, 5*time.Second
	}
	after := size.messages / restarts
	cluster, err := pgcluster.Start(pgcluster.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cluster.Stop()) })
	dsn, err := cluster.CreateDatabase(context.Background(), "restart")
	require.NoError(t, err)
	cfg := pgFaultConfig(dsn)
	gws := []*gateway{startPostgresGateway(t, cfg), startPostgresGateway(t, cfg)}

	// /readyz of each gateway, polled throughout.
	var (
		readyMu   sync.Mutex
		readySeen = map[int]int{}
		stopReady = make(chan struct{})
		readyWG   sync.WaitGroup
	)
	for _, g := range gws {
		readyWG.Go(func() {
			hc := &http.Client{Timeout: 5 * time.Second}
			for {
				select {
				case <-stopReady:
					return
				case <-time.After(pollEvery):
				}
				status := 0
				if resp, err := hc.Get(g.URL + "/readyz"); err == nil {
					status = resp.StatusCode
					resp.Body.Close()
				}
				readyMu.Lock()
				readySeen[status]++
				readyMu.Unlock()
			}
		})
	}

	p := newPoster(t, gws, 8, 6_000_000)
	p.waitAccepted(t, 100, "posts to be accepted before the restart")
	rd := newReader(gws, p, 2)
	var recovery, downFor time.Duration
	firstRestart := time.Now()
	for r := range restarts {
		restartAt := time.Now()
		require.NoError(t, cluster.Restart(down), "restart PostgreSQL")
		upAt := time.Now()
		p.waitAccepted(t, int64(after), "posts to be accepted after the restart")
		first503, last503, back := p.outage(restartAt, time.Now())
		require.False(t, first503.IsZero(), "sends were refused with 503 while the database was down")
		recovery = max(recovery, back.Sub(restartAt))
		downFor = max(downFor, upAt.Sub(restartAt))
		t.Logf("restart %d: PostgreSQL down %s (fast shutdown to ready again); clients got 503s for %s; sends accepted again %s after PostgreSQL was ready",
			r+1, upAt.Sub(restartAt).Round(10*time.Millisecond), last503.Sub(first503).Round(10*time.Millisecond), back.Sub(upAt).Round(10*time.Millisecond))
	}
	reads := rd.finish()
	accepted := p.finish()
	close(stopReady)
	readyWG.Wait()

	for _, g := range gws {
		require.True(t, g.running(), "the gateway survived the database restart")
	}
	require.Empty(t, p.bad, "every answer is 202, or 503 unavailable with a Retry-After")
	require.NotZero(t, p.statuses[http.StatusServiceUnavailable], "sends were refused with 503 while the database was down")
	require.Empty(t, rd.bad, "every read is answered 200, 404 or 503 unavailable with a Retry-After (never 500)")
	require.NotZero(t, reads[http.StatusServiceUnavailable], "reads were answered 503 while the database was down: %v", reads)
	readyMu.Lock()
	require.NotZero(t, readySeen[http.StatusServiceUnavailable], "/readyz answered 503 while the database was down: %v", readySeen)
	readyMu.Unlock()
	for _, g := range gws {
		resp, err := http.Get(g.URL + "/readyz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "/readyz is 200 again without a gateway restart")
	}

	// The outage does not flood the log: each kind of WARN or ERROR line
	// comes at most once per interval (with a count where it stands for
	// many: 10 s), or from a loop that runs every few seconds whatever the
	// load (lease renewal, every lease/3), never once per request or poll.
	perKind := 2 + int(time.Since(firstRestart)/(3*time.Second))
	msgOf := regexp.MustCompile(`level=(?:WARN|ERROR) msg=("[^"]*"|\S+)`)
	for _, g := range gws {
		kinds := map[string]int{}
		for _, m := range msgOf.FindAllStringSubmatch(g.logSince(0), -1) {
			kinds[m[1]]++
		}
		for kind, n := range kinds {
			require.LessOrEqual(t, n, perKind, "%s: %d lines of %s in %s", g.URL, n, kind, time.Since(firstRestart).Round(time.Second))
		}
	}
	ctx := context.Background()
	db, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer db.Close(ctx)
	c := waitDelivered(t, db, keys(accepted))
	t.Logf("%d restart(s), down %s each: accepted=%d delivered=%d lost=%d ambiguous attempts=%d unflagged double sends=%d; "+
		"HTTP statuses of sends %v, of reads %v; /readyz %v",
		restarts, down, c.accepted, c.delivered, c.lost, c.ambiguous, c.doubles, p.statuses, reads, readySeen)
	return faultResult{
		accepted: c.accepted, delivered: c.delivered, lost: c.lost, duplicates: c.flagged, recover: recovery,
		note: fmt.Sprintf("%d restart(s), PostgreSQL down up to %s from shutdown to ready; %d sends and %d reads answered 503, none 500",
			restarts, downFor.Round(10*time.Millisecond), p.statuses[http.StatusServiceUnavailable], reads[http.StatusServiceUnavailable]),
	}
}

// reader reads messages back from gateways while a fault goes on: by id
// (an accepted one, from the poster) and a page of the list, in turns.
// It counts every HTTP status; anything but 200, 404 and 503 unavailable
// with a Retry-After is bad.
type reader struct {
	stop atomic.Bool
	wg   sync.WaitGroup

	mu       sync.Mutex
	statuses map[int]int
	bad      []string
}

func newReader(gws []*gateway, p *poster, workers int) *reader {
	r := &reader{statuses: map[int]int{}}
	for w := range workers {
		r.wg.Go(func() {
			hc := &http.Client{Timeout: 10 * time.Second}
			for i := w; !r.stop.Load(); i++ {
				g := gws[i%len(gws)]
				path := "/v1/messages?limit=5"
				if i%2 == 0 {
					p.mu.Lock()
					for id := range p.ids { // any accepted id
						path = "/v1/messages/" + id
						break
					}
					p.mu.Unlock()
				}
				r.read(hc, g.URL+path)
				time.Sleep(pollEvery)
			}
		})
	}
	return r
}

func (r *reader) read(hc *http.Client, url string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer "+readKey)
	status, detail := 0, ""
	resp, err := hc.Do(req)
	if err != nil {
		detail = err.Error()
	} else {
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		status = resp.StatusCode
		detail = fmt.Sprintf("HTTP %d %s, Retry-After %q", status, body.Error.Code, resp.Header.Get("Retry-After"))
		if status == http.StatusServiceUnavailable && (body.Error.Code != "unavailable" || resp.Header.Get("Retry-After") == "") {
			status = -status // not the documented 503
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses[status]++
	switch status {
	case http.StatusOK, http.StatusNotFound, http.StatusServiceUnavailable:
	default:
		r.bad = append(r.bad, "GET "+url+": "+detail)
	}
}

// finish stops the readers and returns the statuses they saw.
func (r *reader) finish() map[int]int {
	r.stop.Store(true)
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.statuses
}
