// Command gwperf measures the gateway past ingest, in one run:
//
//		go run ./bench/gwperf                      # dispatch, latency, rss
//		go run ./bench/gwperf -only dispatch -messages 50000
//
//	  - dispatch: N messages are stored straight into a fresh SQLite store
//	    (store.Enqueue, unleased, due now; no HTTP), then the gateway starts
//	    and its dispatcher drains them through two sim channels (latency 0,
//	    receipt_delay 0), with no ingest meanwhile. Throughput is N over the
//	    time from the first attempt's start to the last delivered receipt,
//	    read from the attempts table. Target >= 5,000 msg/s.
//	  - latency: the same gateway config, fresh store, an open-loop load at a
//	    fixed rate (default 1,000 msg/s for 10 s after a 1 s warm-up).
//	    Accept-to-delivered is the message's created_at (the gateway's accept
//	    time) to its attempt's delivered_at, both from the store; also shown
//	    from the client's scheduled send time, and the 202's own latency.
//	  - rss: one sim channel, disabled through the admin API, and a policy
//	    that waits for it (failover_on: [error]); 100,000 messages posted
//	    through the API (64 closed-loop connections). Then VmRSS and VmHWM
//	    (peak) from /proc/<pid>/status, and VmRSS again after a forced GC +
//	    debug.FreeOSMemory. Target < 200 MiB.
//
// The gateway is this binary re-executed with -serve-gateway: gateway.New
// + Run, as `switchboard serve` does, plus a SIGUSR1 hook for the GC.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/sqlite"
)

const (
	targetDispatch = 5000.0 // msg/s
	targetRSSMiB   = 200.0

	sendKey  = "bench-send-key-0123456789"
	readKey  = "bench-read-key-0123456789"
	adminKey = "bench-admin-key-0123456789"
)

var httpc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxIdleConns: 512}}

const keysYAML = `
auth:
  keys:
    - {name: bench, key: "` + sendKey + `", role: send}
    - {name: support, key: "` + readKey + `", role: read}
    - {name: ops, key: "` + adminKey + `", role: admin}
`

// dispatchYAML: two instant sim channels, receipts at once; the otp
// policy of bench/ingest/gateway.yaml. Dispatch defaults as shipped.
const dispatchYAML = `
server: {listen: "127.0.0.1:0"}
store: {driver: sqlite, dsn: "DBPATH"}
` + keysYAML + `
channels:
  whatsapp: {type: sim, kind: whatsapp, mode: up, latency: 0s, receipt_delay: 0s}
  sms: {type: sim, kind: sms, mode: up, latency: 0s, receipt_delay: 0s}
policies:
  - name: otp
    match: {tags: [otp]}
    route: [whatsapp, sms]
    failover_on: [error, breaker_open, unhealthy, no_receipt, undelivered]
    receipt_timeout: {whatsapp: 30s, sms: 60s}
    ttl: 10m
  - name: default
    route: [whatsapp, sms]
`

// rssYAML: one sim channel that the bench disables; the policy waits for
// it (no unhealthy/breaker_open trigger), so every message stays in the
// store, re-checked every 5 s.
const rssYAML = `
server: {listen: "127.0.0.1:0"}
store: {driver: sqlite, dsn: "DBPATH"}
` + keysYAML + `
channels:
  sms: {type: sim, kind: sms, mode: up, latency: 0s, receipt_delay: 0s}
policies:
  - name: default
    route: [sms]
    failover_on: [error]
    ttl: 24h
`

type options struct {
	only              string
	messages, rssMsgs int
	rate              int
	duration, warmup  time.Duration
	connections       int
	keep              bool
	cpuProfile        string
	workers           int
	out               string
}

func main() {
	if len(os.Args) == 5 && os.Args[1] == "-serve-gateway" {
		if err := serveGateway(os.Args[2], os.Args[3], os.Args[4]); err != nil {
			fmt.Fprintln(os.Stderr, "gateway:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.only, "only", "", "run one part only: dispatch, latency or rss")
	flag.IntVar(&o.messages, "messages", 50000, "dispatch: messages preloaded into the store")
	flag.IntVar(&o.rssMsgs, "rss-messages", 100000, "rss: messages queued through the API")
	flag.IntVar(&o.rate, "rate", 1000, "latency: open-loop rate, msg/s")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "latency: measured load")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "latency: load before measuring, not counted")
	flag.IntVar(&o.connections, "connections", 64, "rss: closed-loop connections posting the messages")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (databases, configs, gateway logs)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "dispatch: write a CPU profile of the gateway while it drains (and until it stops)")
	flag.IntVar(&o.workers, "workers", 0, "dispatch and latency: dispatch.workers for the gateway (0: the default, 64)")
	flag.StringVar(&o.out, "out", "", "also write the results as JSON to this file")
	flag.Parse()
	if flag.NArg() > 0 || (o.only != "" && o.only != "dispatch" && o.only != "latency" && o.only != "rss") {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "gwperf:", err)
		stop()
		os.Exit(1)
	}
}

type results struct {
	CPUs     int             `json:"cpus"`
	Go       string          `json:"go"`
	Dispatch *dispatchResult `json:"dispatch,omitempty"`
	Latency  *latencyResult  `json:"latency,omitempty"`
	RSS      *rssResult      `json:"rss,omitempty"`
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "switchboard-gwperf-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Printf("temp dir (kept): %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	res := &results{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	fmt.Printf("machine: %d CPUs, %s\n", res.CPUs, res.Go)
	if o.only == "" || o.only == "dispatch" {
		if res.Dispatch, err = benchDispatch(ctx, o, dir); err != nil {
			return fmt.Errorf("dispatch: %w", err)
		}
	}
	if o.only == "" || o.only == "latency" {
		if res.Latency, err = benchLatency(ctx, o, dir); err != nil {
			return fmt.Errorf("latency: %w", err)
		}
	}
	if o.only == "" || o.only == "rss" {
		if res.RSS, err = benchRSS(ctx, o, dir); err != nil {
			return fmt.Errorf("rss: %w", err)
		}
	}
	fmt.Println()
	fmt.Println("summary")
	if d := res.Dispatch; d != nil {
		fmt.Printf("  dispatch: %d msgs drained at %.0f msg/s delivered (target >= %.0f): %s\n", d.Messages, d.DeliveredPerSec, targetDispatch, okMiss(d.DeliveredPerSec >= targetDispatch))
	}
	if l := res.Latency; l != nil {
		fmt.Printf("  accept-to-delivered at %d msg/s: p50 %.2f ms, p99 %.2f ms (store); POST-to-delivered p99 %.2f ms\n", l.Rate, l.Server.P50, l.Server.P99, l.Client.P99)
	}
	if r := res.RSS; r != nil {
		fmt.Printf("  RSS with %d waiting: %.1f MiB now, %.1f MiB peak, %.1f MiB after GC (target < %.0f): %s\n", r.Messages, r.RSSMiB, r.PeakMiB, r.AfterGCMiB, targetRSSMiB, okMiss(r.PeakMiB < targetRSSMiB))
	}
	if o.out != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		return os.WriteFile(o.out, append(b, '\n'), 0o644)
	}
	return nil
}

func (o options) dispatchConfig(db string) string {
	y := strings.ReplaceAll(dispatchYAML, "DBPATH", db)
	if o.workers > 0 {
		y += fmt.Sprintf("dispatch: {workers: %d}\n", o.workers)
	}
	return y
}

func okMiss(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

// ---- dispatch ----

type dispatchResult struct {
	Messages        int            `json:"messages"`
	PreloadSeconds  float64        `json:"preload_seconds"`
	StartToFirstS   float64        `json:"start_to_first_attempt_s"` // process start to the first attempt
	SendSeconds     float64        `json:"send_seconds"`             // first to last attempt start
	DrainSeconds    float64        `json:"drain_seconds"`            // first attempt start to last delivered
	SentPerSec      float64        `json:"sent_per_sec"`
	DeliveredPerSec float64        `json:"delivered_per_sec"`
	Final           map[string]int `json:"final_statuses"`
	ErrorLines      int            `json:"error_log_lines"`
}

func newMessage(now time.Time, i int) *store.Message {
	id := uuid.Must(uuid.NewV7()).String()
	phone := fmt.Sprintf("+1555%07d", i%10000000)
	return &store.Message{
		ID: id, IdempotencyScope: "bench", IdempotencyKey: "k-" + id,
		RequestHash: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Policy:      "otp", Route: []string{"whatsapp", "sms"},
		To:   store.Recipient{Phone: phone, WhatsApp: phone},
		Body: "Your Switchboard verification code is 123456. It expires in 10 minutes. Do not share it.",
		Tags: []string{"otp"}, Metadata: map[string]string{"order": strconv.Itoa(i)},
		CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute), NextAt: now,
	}
}

func benchDispatch(ctx context.Context, o options, dir string) (*dispatchResult, error) {
	db := filepath.Join(dir, "dispatch.db")
	fmt.Printf("dispatch: preloading %d messages into %s (store.Enqueue, 64 goroutines) ...\n", o.messages, db)
	t0 := time.Now()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		return nil, err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > o.messages || ctx.Err() != nil {
					return
				}
				if _, _, err := st.Enqueue(ctx, newMessage(time.Now().UTC(), i)); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := st.Close(); err != nil {
		return nil, err
	}
	if e := firstErr.Load(); e != nil {
		return nil, e.(error)
	}
	r := &dispatchResult{Messages: o.messages, PreloadSeconds: time.Since(t0).Seconds()}
	fmt.Printf("dispatch: preloaded in %.1fs; starting the gateway (2 sim channels, latency 0, receipt_delay 0) ...\n", r.PreloadSeconds)

	start := time.Now()
	gw, err := startGateway(ctx, dir, "dispatch", o.dispatchConfig(db), o.cpuProfile)
	if err != nil {
		return nil, err
	}
	defer gw.stop()
	rd, err := openRead(db)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		c, err := countStatuses(ctx, rd)
		if err != nil {
			return nil, err
		}
		if c["queued"]+c["sending"]+c["sent"] == 0 {
			r.Final = c
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("not drained after 5 minutes: %v", c)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var first, lastStart, lastDelivered int64
	if err := rd.QueryRowContext(ctx, "SELECT MIN(started_at), MAX(started_at), MAX(delivered_at) FROM attempts").
		Scan(&first, &lastStart, &lastDelivered); err != nil {
		return nil, err
	}
	r.StartToFirstS = time.Unix(0, first).Sub(start).Seconds()
	r.SendSeconds = float64(lastStart-first) / 1e9
	r.DrainSeconds = float64(lastDelivered-first) / 1e9
	r.SentPerSec = float64(o.messages) / r.SendSeconds
	r.DeliveredPerSec = float64(o.messages) / r.DrainSeconds
	gw.stop()
	r.ErrorLines = gw.errorLines()
	fmt.Printf("dispatch: first attempt %.2fs after the process started; %d messages sent in %.2fs (%.0f msg/s), all receipts in %.2fs: %.0f msg/s delivered\n",
		r.StartToFirstS, o.messages, r.SendSeconds, r.SentPerSec, r.DrainSeconds, r.DeliveredPerSec)
	fmt.Printf("dispatch: store holds %s; gateway ERROR log lines: %d\n", fmtCounts(r.Final), r.ErrorLines)
	return r, nil
}

func openRead(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

func countStatuses(ctx context.Context, db *sql.DB) (map[string]int, error) {
	rows, err := db.QueryContext(ctx, "SELECT status, COUNT(*) FROM messages GROUP BY status")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

func fmtCounts(m map[string]int) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// ---- latency ----

type pcts struct {
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

type latencyResult struct {
	Rate       int     `json:"rate"`
	Seconds    float64 `json:"seconds"`
	Sent       int     `json:"sent"`
	Accepted   int     `json:"accepted"`
	Delivered  int     `json:"delivered"`
	Errors     int     `json:"errors"`
	AchievedPS float64 `json:"achieved_per_sec"`
	Server     pcts    `json:"accept_to_delivered"` // created_at -> delivered_at
	Client     pcts    `json:"post_to_delivered"`   // scheduled POST -> delivered_at
	Accept     pcts    `json:"post_to_202"`         // scheduled POST -> 202 read
	ErrorLines int     `json:"error_log_lines"`
}

func percentiles(ds []time.Duration) pcts {
	if len(ds) == 0 {
		return pcts{}
	}
	slices.Sort(ds)
	at := func(p float64) float64 {
		i := min(len(ds)-1, int(p/100*float64(len(ds))))
		return float64(ds[i].Microseconds()) / 1000
	}
	return pcts{P50: at(50), P90: at(90), P99: at(99), Max: float64(ds[len(ds)-1].Microseconds()) / 1000}
}

func sendBody(i int) []byte {
	return fmt.Appendf(nil, `{"to":{"phone":"+1555%07d","whatsapp":"+1555%07d"},"body":"Your Switchboard verification code is 123456. It expires in 10 minutes. Do not share it.","tags":["otp"],"metadata":{"order":"%d"}}`, i%10000000, i%10000000, i)
}

// post sends one message; it returns the message id on a 202.
func post(ctx context.Context, base string, i int, idem string) (string, int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/messages", bytes.NewReader(sendBody(i)))
	req.Header.Set("Authorization", "Bearer "+sendKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", idem)
	resp, err := httpc.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		return "", resp.StatusCode, err
	}
	var out struct {
		ID string `json:"id"`
	}
	err = json.Unmarshal(b, &out)
	return out.ID, resp.StatusCode, err
}

func benchLatency(ctx context.Context, o options, dir string) (*latencyResult, error) {
	db := filepath.Join(dir, "latency.db")
	gw, err := startGateway(ctx, dir, "latency", o.dispatchConfig(db), "")
	if err != nil {
		return nil, err
	}
	defer gw.stop()
	fmt.Printf("latency: open loop at %d msg/s, %s warm-up + %s measured ...\n", o.rate, o.warmup, o.duration)
	type sample struct {
		id          string
		sched, done time.Time
		measured    bool
	}
	total := int((o.warmup + o.duration).Seconds() * float64(o.rate))
	nWarm := int(o.warmup.Seconds() * float64(o.rate))
	samples := make([]sample, total)
	var errs atomic.Int64
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(o.rate)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	start := time.Now()
	for i := range total {
		sched := start.Add(time.Duration(i) * interval)
		if d := time.Until(sched); d > 0 {
			time.Sleep(d)
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			id, code, err := post(ctx, gw.base, i, run+"-"+strconv.Itoa(i))
			if err != nil || code != http.StatusAccepted {
				errs.Add(1)
				return
			}
			samples[i] = sample{id: id, sched: sched, done: time.Now(), measured: i >= nWarm}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	rd, err := openRead(db)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	for range 100 {
		c, err := countStatuses(ctx, rd)
		if err != nil {
			return nil, err
		}
		if c["queued"]+c["sending"]+c["sent"] == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	rows, err := rd.QueryContext(ctx, `SELECT m.id, m.created_at, MIN(a.delivered_at) FROM messages m JOIN attempts a ON a.message_id = m.id
		WHERE a.delivered_at IS NOT NULL GROUP BY m.id`)
	if err != nil {
		return nil, err
	}
	type times struct{ created, delivered int64 }
	got := map[string]times{}
	for rows.Next() {
		var id string
		var t times
		if err := rows.Scan(&id, &t.created, &t.delivered); err != nil {
			rows.Close()
			return nil, err
		}
		got[id] = t
	}
	rows.Close()
	r := &latencyResult{Rate: o.rate, Seconds: elapsed.Seconds(), Sent: total, Errors: int(errs.Load()),
		AchievedPS: float64(total) / elapsed.Seconds()}
	var srv, cli, acc []time.Duration
	for _, s := range samples {
		if s.id == "" {
			continue
		}
		r.Accepted++
		t, ok := got[s.id]
		if ok {
			r.Delivered++
		}
		if !s.measured {
			continue
		}
		acc = append(acc, s.done.Sub(s.sched))
		if ok {
			srv = append(srv, time.Duration(t.delivered-t.created))
			cli = append(cli, time.Unix(0, t.delivered).Sub(s.sched))
		}
	}
	r.Server, r.Client, r.Accept = percentiles(srv), percentiles(cli), percentiles(acc)
	gw.stop()
	r.ErrorLines = gw.errorLines()
	fmt.Printf("latency: %d sent in %.1fs (%.0f/s), %d accepted, %d delivered, %d errors, ERROR log lines %d\n",
		r.Sent, r.Seconds, r.AchievedPS, r.Accepted, r.Delivered, r.Errors, r.ErrorLines)
	for _, l := range []struct {
		name string
		p    pcts
	}{{"accept-to-delivered (created_at -> delivered_at)", r.Server}, {"POST-to-delivered (scheduled send -> delivered_at)", r.Client}, {"POST-to-202", r.Accept}} {
		fmt.Printf("latency: %-52s p50 %7.2f  p90 %7.2f  p99 %7.2f  max %7.2f ms\n", l.name, l.p.P50, l.p.P90, l.p.P99, l.p.Max)
	}
	return r, nil
}

// ---- rss ----

type rssResult struct {
	Messages   int            `json:"messages"`
	Accepted   int            `json:"accepted"`
	PostSecs   float64        `json:"post_seconds"`
	IdleMiB    float64        `json:"idle_rss_mib"`
	RSSMiB     float64        `json:"rss_mib"`      // after the load, sampled for 10 s (max)
	PeakMiB    float64        `json:"peak_rss_mib"` // VmHWM
	AfterGCMiB float64        `json:"after_gc_rss_mib"`
	Mem        memStats       `json:"after_gc_memstats"`
	Statuses   map[string]int `json:"statuses"`
	ErrorLines int            `json:"error_log_lines"`
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func benchRSS(ctx context.Context, o options, dir string) (*rssResult, error) {
	db := filepath.Join(dir, "rss.db")
	gw, err := startGateway(ctx, dir, "rss", strings.ReplaceAll(rssYAML, "DBPATH", db), "")
	if err != nil {
		return nil, err
	}
	defer gw.stop()
	r := &rssResult{Messages: o.rssMsgs}
	time.Sleep(time.Second)
	idle, _, err := gw.status()
	if err != nil {
		return nil, err
	}
	r.IdleMiB = mib(idle)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw.base+"/v1/channels/sms/disable", strings.NewReader(`{"reason":"bench: keep messages queued"}`))
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpc.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("disable sms: %s", resp.Status)
	}
	fmt.Printf("rss: idle %.1f MiB; sms disabled; posting %d messages over %d connections ...\n", r.IdleMiB, o.rssMsgs, o.connections)
	var next, accepted atomic.Int64
	var wg sync.WaitGroup
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	t0 := time.Now()
	for range o.connections {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > o.rssMsgs || ctx.Err() != nil {
					return
				}
				if _, code, err := post(ctx, gw.base, i, run+"-"+strconv.Itoa(i)); err == nil && code == http.StatusAccepted {
					accepted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	r.PostSecs = time.Since(t0).Seconds()
	r.Accepted = int(accepted.Load())
	fmt.Printf("rss: %d accepted in %.1fs; sampling RSS for 10s while they wait ...\n", r.Accepted, r.PostSecs)
	var maxRSS, hwm int64
	for range 20 {
		rss, h, err := gw.status()
		if err != nil {
			return nil, err
		}
		maxRSS, hwm = max(maxRSS, rss), h
		time.Sleep(500 * time.Millisecond)
	}
	r.RSSMiB, r.PeakMiB = mib(maxRSS), mib(hwm)
	if r.Mem, err = gw.gc(); err != nil {
		return nil, err
	}
	after, _, err := gw.status()
	if err != nil {
		return nil, err
	}
	r.AfterGCMiB = mib(after)
	rd, err := openRead(db)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	if r.Statuses, err = countStatuses(ctx, rd); err != nil {
		return nil, err
	}
	gw.stop()
	r.ErrorLines = gw.errorLines()
	fmt.Printf("rss: VmRSS %.1f MiB (max over 10s), VmHWM %.1f MiB, after GC %.1f MiB (heap in use %.1f MiB, %d goroutines)\n",
		r.RSSMiB, r.PeakMiB, r.AfterGCMiB, float64(r.Mem.HeapInuse)/(1<<20), r.Mem.NumGoroutine)
	fmt.Printf("rss: store holds %s; gateway ERROR log lines: %d\n", fmtCounts(r.Statuses), r.ErrorLines)
	return r, nil
}
