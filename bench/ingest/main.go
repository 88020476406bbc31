// Command ingest measures how fast the gateway accepts messages, against a
// bare echo server that only decodes the same JSON, under the same load on
// loopback. `make bench` runs it:
//
//	go run ./bench/ingest -duration 10s -connections 64
//
// Both servers run as child processes (the bare one is this binary
// re-executed with -serve-bare), so neither shares a Go runtime with the
// load generator. The gateway is `switchboard serve` with
// bench/ingest/gateway.yaml: instant sim channels, SQLite in a temp dir
// with durability as shipped, the dispatcher running. After the load, the
// bench waits for the dispatcher to drain the queue and reports how long
// that took, the largest backlog seen and how many messages were delivered
// inside the measured window.
//
// With -store postgres the gateway runs on a throwaway PostgreSQL cluster
// (internal/pgcluster, fsync on unless -pg-fsync=false) with
// bench/ingest/gateway-postgres.yaml, and -instances N starts N gateways on
// the one database, the load generator spreading its connections over them
// round robin.
//
// The target (issue 18): the gateway accepts at least 30% of the bare
// server's requests per second, with a p99 under 20 ms.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchboard-gw/switchboard/internal/pgcluster"
)

// The gateway's ingest target, relative to the bare server.
const (
	targetRatio = 0.30
	targetP99   = 20 * time.Millisecond
)

type options struct {
	duration, warmup, drainTimeout time.Duration
	connections                    int
	only, out, gatewayBin          string
	gatewayConfig                  string
	cpuProfile                     string
	trace                          string
	keep                           bool
	store                          string // sqlite or postgres
	instances                      int
	pgFsync                        bool
	pgStats                        bool
}

func main() {
	// Hidden modes: this binary re-executed as a server.
	if len(os.Args) == 3 && os.Args[1] == "-serve-bare" {
		if err := serveBare(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "bare server:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) == 4 && os.Args[1] == "-serve-insert" {
		if err := serveInsert(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "insert server:", err)
			os.Exit(1)
		}
		return
	}
	if (len(os.Args) == 5 || len(os.Args) == 7) && os.Args[1] == "-serve-gateway" {
		var tr traceWindow
		if len(os.Args) == 7 {
			at, err := time.ParseDuration(os.Args[6])
			if err != nil {
				fmt.Fprintln(os.Stderr, "gateway: trace start:", err)
				os.Exit(2)
			}
			tr = traceWindow{path: os.Args[5], at: at, length: 2 * time.Second}
		}
		if err := serveGateway(os.Args[2], os.Args[3], os.Args[4], tr); err != nil {
			fmt.Fprintln(os.Stderr, "gateway:", err)
			os.Exit(1)
		}
		return
	}

	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured load per server")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before measuring, not counted")
	flag.IntVar(&o.connections, "connections", 64, "concurrent keep-alive connections, one request in flight each")
	flag.StringVar(&o.only, "only", "", "run one server only: bare, insert or gateway")
	flag.StringVar(&o.out, "out", "", "also write the results as JSON to this file")
	flag.StringVar(&o.gatewayBin, "gateway-bin", "", "switchboard binary to run (default: build ./cmd/switchboard)")
	flag.StringVar(&o.gatewayConfig, "gateway-config", "", "gateway config to use instead of the built-in bench/ingest/gateway.yaml (its store.dsn should be \"${SB_BENCH_DB}\")")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the gateway to this file (runs gateway.New+Run inside this binary instead of switchboard serve)")
	flag.StringVar(&o.trace, "trace", "", "with -cpuprofile: also write a 2 s execution trace of the gateway from the middle of the measured load to this file (go tool trace FILE)")
	flag.DurationVar(&o.drainTimeout, "drain-timeout", time.Minute, "how long to wait for the dispatcher to drain the queue after the load")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (database, config, server logs) for inspection")
	flag.StringVar(&o.store, "store", "sqlite", "gateway store: sqlite (a file in the temp dir) or postgres (a throwaway local cluster)")
	flag.IntVar(&o.instances, "instances", 1, "gateway processes on the one database (postgres only); connections are spread over them round robin")
	flag.BoolVar(&o.pgFsync, "pg-fsync", true, "run the postgres cluster with fsync, synchronous_commit and full_page_writes on (as durable as SQLite's synchronous=FULL)")
	flag.BoolVar(&o.pgStats, "pg-stats", false, "postgres only: load pg_stat_statements and print the statements that took the database's time")
	flag.Parse()
	if flag.NArg() > 0 || o.connections < 1 || o.duration <= 0 || o.warmup < 0 ||
		(o.only != "" && o.only != "bare" && o.only != "insert" && o.only != "gateway") ||
		(o.store != "sqlite" && o.store != "postgres") || o.instances < 1 ||
		(o.instances > 1 && o.store != "postgres") || (o.instances > 1 && o.cpuProfile != "") ||
		(o.trace != "" && o.cpuProfile == "") {
		fmt.Fprintln(os.Stderr, "-store is sqlite or postgres; -instances > 1 needs -store postgres and no -cpuprofile; -trace needs -cpuprofile")
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

// report is the run's result, printed as a table and written by -out.
type report struct {
	Machine     machine        `json:"machine"`
	Command     string         `json:"command"`
	Duration    string         `json:"duration"`
	Warmup      string         `json:"warmup"`
	Connections int            `json:"connections"`
	Store       string         `json:"store"`
	Instances   int            `json:"instances"`
	Results     []targetResult `json:"results"`
	Ratio       float64        `json:"ratio,omitempty"`        // gateway req/s / bare req/s
	InsertRatio float64        `json:"insert_ratio,omitempty"` // insert req/s / bare req/s
	TargetMet   *bool          `json:"target_met,omitempty"`
}

type machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
}

type targetResult struct {
	Server    string            `json:"server"`
	ReqPerSec float64           `json:"req_per_sec"`
	Accepted  uint64            `json:"accepted"`
	P50Ms     float64           `json:"p50_ms"`
	P90Ms     float64           `json:"p90_ms"`
	P99Ms     float64           `json:"p99_ms"`
	MaxMs     float64           `json:"max_ms"`
	MeanMs    float64           `json:"mean_ms"`
	Errors    uint64            `json:"errors"`
	Statuses  map[string]uint64 `json:"statuses,omitempty"`
	Failures  map[string]uint64 `json:"failures,omitempty"`
	Dispatch  *dispatchResult   `json:"dispatch,omitempty"`
	// CPU per accepted request (warm-up included): the server process's
	// over its whole life (start, load, and for the gateway the drain of
	// its queue after the load: dispatch is part of a message's cost), and
	// the load generator's while loading it.
	ServerCPUUs float64 `json:"server_cpu_us_per_req,omitempty"`
	LoadCPUUs   float64 `json:"load_cpu_us_per_req,omitempty"`

	p99 time.Duration
}

type dispatchResult struct {
	AcceptedTotal uint64          `json:"accepted_total"` // every 202, warm-up included
	MaxBacklog    int             `json:"max_backlog"`    // queued+sending, sampled every second
	MaxBacklogAt  string          `json:"max_backlog_at,omitempty"`
	DrainSeconds  float64         `json:"drain_seconds"` // load end to nothing queued or sending
	DrainError    string          `json:"drain_error,omitempty"`
	FinalStatuses map[string]int  `json:"final_statuses,omitempty"`
	ErrorLogLines int             `json:"error_log_lines"` // level=ERROR lines in the gateway's log
	Samples       []backlogSample `json:"samples,omitempty"`
	SamplerError  string          `json:"sampler_error,omitempty"`

	// Messages whose delivered receipt was recorded inside the measured
	// window, and that per second: the dispatch throughput.
	DeliveredInWindow int     `json:"delivered_in_window"`
	DeliveredPerSec   float64 `json:"delivered_per_sec"`
}

func run(ctx context.Context, o options, stdout io.Writer) (err error) {
	dir, err := os.MkdirTemp("", "switchboard-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(stdout, "temp dir (kept): %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	rep := &report{
		Machine:  machineInfo(),
		Command:  "go run ./bench/ingest " + strings.Join(os.Args[1:], " "),
		Duration: o.duration.String(), Warmup: o.warmup.String(), Connections: o.connections,
		Store: o.store, Instances: o.instances,
	}
	fmt.Fprintf(stdout, "machine: %d CPUs (%s), %s, %s\n", rep.Machine.CPUs, rep.Machine.CPUModel, rep.Machine.GoVersion, rep.Machine.OS)
	fmt.Fprintf(stdout, "load: %d connections, closed loop, %s warm-up + %s measured, 127.0.0.1\n", o.connections, o.warmup, o.duration)
	if o.only == "" || o.only == "gateway" {
		fmt.Fprintf(stdout, "gateway: store %s, %d instance(s)\n", o.store, o.instances)
	}

	// Build first, so a broken build fails before minutes of load.
	gwBin := o.gatewayBin
	if (o.only == "" || o.only == "gateway") && gwBin == "" && o.cpuProfile == "" {
		fmt.Fprintln(stdout, "building cmd/switchboard ...")
		if gwBin, err = buildGateway(ctx, dir); err != nil {
			return err
		}
	}
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)

	if o.only == "" || o.only == "bare" {
		r, err := benchBare(ctx, o, dir, runID, stdout)
		if err != nil {
			return fmt.Errorf("bare: %w", err)
		}
		rep.Results = append(rep.Results, *r)
	}
	if o.only == "" || o.only == "insert" {
		r, err := benchInsert(ctx, o, dir, runID, stdout)
		if err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		rep.Results = append(rep.Results, *r)
	}
	if o.only == "" || o.only == "gateway" {
		r, err := benchGateway(ctx, o, dir, gwBin, runID, stdout)
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		rep.Results = append(rep.Results, *r)
	}
	printReport(stdout, rep)
	if o.out != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.out, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// benchBare loads the bare server: this binary re-executed with
// -serve-bare.
func benchBare(ctx context.Context, o options, dir, runID string, stdout io.Writer) (*targetResult, error) {
	return benchSelf(ctx, o, dir, runID+"b", "bare", func(addr string) []string { return []string{"-serve-bare", addr} }, stdout)
}

// benchInsert loads the durable floor (serveInsert) the same way.
func benchInsert(ctx context.Context, o options, dir, runID string, stdout io.Writer) (*targetResult, error) {
	return benchSelf(ctx, o, dir, runID+"i", "insert", func(addr string) []string {
		return []string{"-serve-insert", addr, filepath.Join(dir, "insert.db")}
	}, stdout)
}

// benchSelf runs this binary as the server name with args(addr), loads
// it, stops it and reports.
func benchSelf(ctx context.Context, o options, dir, runID, name string, args func(addr string) []string, stdout io.Writer) (*targetResult, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	srv, err := startServer(name+" server", self, args(addr), nil, filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer srv.stop(5 * time.Second)
	base := "http://" + addr
	if err := srv.waitReady(ctx, base+"/readyz", 15*time.Second); err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "%s: loading %s ...\n", name, base)
	lr, err := runLoad(ctx, loadConfig{urls: []string{base + "/v1/messages"}, sendKey: sendKey, connections: o.connections,
		warmup: o.warmup, duration: o.duration, runID: runID})
	if err != nil {
		return nil, err
	}
	if err := srv.stop(5 * time.Second); err != nil {
		return nil, err
	}
	return withCPU(resultOf(name, lr), lr, srv.cpu()), nil
}

func benchGateway(ctx context.Context, o options, dir, bin, runID string, stdout io.Writer) (*targetResult, error) {
	cfgPath := filepath.Join(dir, "gateway.yaml")
	cfgData := gatewayYAML
	if o.store == "postgres" {
		cfgData = gatewayPostgresYAML
	}
	if o.gatewayConfig != "" {
		var err error
		if cfgData, err = os.ReadFile(o.gatewayConfig); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(cfgPath, cfgData, 0o600); err != nil {
		return nil, err
	}

	// SB_BENCH_DB: the SQLite file, or the PostgreSQL database's DSN.
	db := filepath.Join(dir, "gateway.db")
	if o.store == "postgres" {
		fmt.Fprintf(stdout, "postgres: starting a throwaway cluster (fsync %s) ...\n", onOff(o.pgFsync))
		popts := pgcluster.Options{Durable: o.pgFsync}
		if o.pgStats {
			popts.Settings = append(popts.Settings, pgStatsSetting)
		}
		cl, err := pgcluster.Start(popts)
		if err != nil {
			return nil, err
		}
		defer cl.Stop()
		if db, err = cl.CreateDatabase(ctx, "switchboard_bench"); err != nil {
			return nil, err
		}
		if o.pgStats {
			if err := pgStatsReset(ctx, db); err != nil {
				return nil, fmt.Errorf("pg_stat_statements: %w", err)
			}
		}
	}

	var (
		srvs  []*server
		bases []string
		logs  []string
	)
	defer func() {
		for _, srv := range srvs {
			_ = srv.stop(20 * time.Second)
		}
	}()
	for i := range o.instances {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		args := []string{"serve", "--config", cfgPath, "--listen", addr}
		if o.cpuProfile != "" {
			if bin, err = os.Executable(); err != nil {
				return nil, err
			}
			prof, err := filepath.Abs(o.cpuProfile)
			if err != nil {
				return nil, err
			}
			args = []string{"-serve-gateway", addr, cfgPath, prof}
			if o.trace != "" {
				tp, err := filepath.Abs(o.trace)
				if err != nil {
					return nil, err
				}
				// From the gateway's start: about a second to get ready
				// and the warm-up, then half the measured load less half
				// the 2 s trace, so it is centred on the load.
				at := o.warmup + o.duration/2
				args = append(args, tp, at.String())
			}
		}
		name, logPath := "gateway", filepath.Join(dir, "gateway.log")
		if o.instances > 1 {
			name, logPath = fmt.Sprintf("gateway %d", i+1), filepath.Join(dir, fmt.Sprintf("gateway-%d.log", i+1))
		}
		srv, err := startServer(name, bin, args, []string{"SB_BENCH_DB=" + db}, logPath)
		if err != nil {
			return nil, err
		}
		srvs, bases, logs = append(srvs, srv), append(bases, "http://"+addr), append(logs, logPath)
	}
	var urls []string
	for i, srv := range srvs {
		if err := srv.waitReady(ctx, bases[i]+"/readyz", 30*time.Second); err != nil {
			return nil, err
		}
		urls = append(urls, bases[i]+"/v1/messages")
	}

	d := &dispatchResult{}
	bl, err := openBacklog(o.store, db)
	if err != nil {
		d.SamplerError = err.Error()
	} else {
		defer bl.db.Close()
	}
	sctx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	start := time.Now()
	if bl != nil {
		go bl.sample(sctx, start)
	}
	fmt.Fprintf(stdout, "gateway: loading %s ...\n", strings.Join(bases, ", "))
	lr, err := runLoad(ctx, loadConfig{urls: urls, sendKey: sendKey, connections: o.connections,
		warmup: o.warmup, duration: o.duration, runID: runID + "g"})
	if err != nil {
		return nil, err
	}
	stopSampling()
	d.AcceptedTotal = lr.allAccepted
	fmt.Fprintln(stdout, "gateway: load done, waiting for the dispatcher to drain the queue ...")
	took, err := drain(ctx, bases[0], o.drainTimeout)
	d.DrainSeconds = took.Seconds()
	if err != nil {
		d.DrainError = err.Error()
	}
	if bl != nil {
		bl.mu.Lock()
		d.Samples, d.SamplerError = bl.samples, errString(bl.err)
		bl.mu.Unlock()
		if m, ok := bl.max(); ok {
			d.MaxBacklog, d.MaxBacklogAt = m.Queued+m.Sending, fmt.Sprintf("%.1fs", m.AtS)
		}
		// Receipts follow sends by receipt_delay; give the last ones a moment.
		for range 50 {
			c, err := bl.count(ctx)
			if err != nil {
				d.SamplerError = err.Error()
				break
			}
			d.FinalStatuses = c
			if c["queued"]+c["sending"]+c["sent"] == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n, err := bl.deliveredBetween(ctx, lr.from, lr.to); err != nil {
			d.SamplerError = err.Error()
		} else if lr.elapsed > 0 {
			d.DeliveredInWindow, d.DeliveredPerSec = n, float64(n)/lr.elapsed.Seconds()
		}
	}
	if o.store == "postgres" {
		if cpu, err := pgBackendCPU(ctx, db); err != nil {
			fmt.Fprintln(stdout, "postgres CPU:", err)
		} else if lr.allAccepted > 0 {
			fmt.Fprintf(stdout, "postgres: processes' CPU over the run %v, %.1f us per accepted request\n",
				cpu.Round(time.Millisecond), float64(cpu.Microseconds())/float64(lr.allAccepted))
		}
	}
	if o.pgStats {
		if err := pgStatsPrint(ctx, db, int(lr.allAccepted), stdout); err != nil {
			fmt.Fprintln(stdout, "pg_stat_statements:", err)
		}
	}
	var stopErr error
	for _, srv := range srvs {
		stopErr = errors.Join(stopErr, srv.stop(20*time.Second))
	}
	if stopErr != nil {
		return nil, stopErr
	}
	for _, l := range logs {
		d.ErrorLogLines += countErrorLines(l)
	}
	var cpu time.Duration
	for _, srv := range srvs {
		cpu += srv.cpu()
	}
	r := withCPU(resultOf("gateway", lr), lr, cpu)
	r.Dispatch = d
	if o.cpuProfile != "" {
		fmt.Fprintf(stdout, "gateway CPU profile: %s (go tool pprof -top %s)\n", o.cpuProfile, o.cpuProfile)
		if o.trace != "" {
			fmt.Fprintf(stdout, "gateway execution trace: %s (go tool trace %s)\n", o.trace, o.trace)
		}
	}
	return r, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// withCPU adds the CPU cost per accepted request to r.
func withCPU(r *targetResult, lr *loadResult, serverCPU time.Duration) *targetResult {
	if lr.allAccepted > 0 {
		r.ServerCPUUs = float64(serverCPU.Microseconds()) / float64(lr.allAccepted)
		r.LoadCPUUs = float64(lr.loadCPU.Microseconds()) / float64(lr.allAccepted)
	}
	return r
}

func resultOf(name string, lr *loadResult) *targetResult {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r := &targetResult{
		Server: name, ReqPerSec: lr.rate(), Accepted: lr.accepted,
		P50Ms: ms(lr.hist.percentile(50)), P90Ms: ms(lr.hist.percentile(90)),
		P99Ms: ms(lr.hist.percentile(99)), MaxMs: ms(lr.hist.percentile(100)), MeanMs: ms(lr.hist.mean()),
		Errors: lr.errors(), p99: lr.hist.percentile(99),
	}
	for s, c := range lr.statuses {
		if r.Statuses == nil {
			r.Statuses = map[string]uint64{}
		}
		r.Statuses[strconv.Itoa(s)] = c
	}
	for k, c := range lr.failures {
		if r.Failures == nil {
			r.Failures = map[string]uint64{}
		}
		r.Failures[k] = c
	}
	return r
}

func printReport(w io.Writer, rep *report) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-8s | %9s | %8s | %8s | %8s | %8s | %s\n", "server", "req/s", "p50", "p90", "p99", "max", "errors")
	fmt.Fprintf(w, "%s\n", strings.Repeat("-", 72))
	var bare, ins, gw *targetResult
	for i := range rep.Results {
		r := &rep.Results[i]
		fmt.Fprintf(w, "%-8s | %9.0f | %8s | %8s | %8s | %8s | %d%s\n", r.Server, r.ReqPerSec,
			fmtMs(r.P50Ms), fmtMs(r.P90Ms), fmtMs(r.P99Ms), fmtMs(r.MaxMs), r.Errors, errorDetail(r))
		switch r.Server {
		case "bare":
			bare = r
		case "insert":
			ins = r
		case "gateway":
			gw = r
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CPU per accepted request (server over its life, load generator while loading it):")
	for _, r := range rep.Results {
		fmt.Fprintf(w, "  %-8s server %6.1f us   load generator %5.1f us\n", r.Server, r.ServerCPUUs, r.LoadCPUUs)
	}
	fmt.Fprintln(w)
	if gw != nil && gw.Dispatch != nil {
		d := gw.Dispatch
		fmt.Fprintf(w, "dispatch: max backlog %d queued+sending", d.MaxBacklog)
		if d.MaxBacklogAt != "" {
			fmt.Fprintf(w, " (at %s)", d.MaxBacklogAt)
		}
		fmt.Fprintf(w, "; drained %.2fs after the load stopped", d.DrainSeconds)
		if d.DrainError != "" {
			fmt.Fprintf(w, " (%s)", d.DrainError)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "          delivered in the measured window: %d (%.0f msg/s)\n", d.DeliveredInWindow, d.DeliveredPerSec)
		if d.FinalStatuses != nil {
			fmt.Fprintf(w, "          accepted %d in all, store holds %s\n", d.AcceptedTotal, fmtStatuses(d.FinalStatuses))
		}
		if d.SamplerError != "" {
			fmt.Fprintf(w, "          backlog sampler: %s\n", d.SamplerError)
		}
		if d.ErrorLogLines > 0 {
			fmt.Fprintf(w, "          gateway logged %d ERROR lines (rerun with -keep to read gateway.log)\n", d.ErrorLogLines)
		}
	}
	if bare != nil && ins != nil && bare.ReqPerSec > 0 {
		rep.InsertRatio = ins.ReqPerSec / bare.ReqPerSec
		fmt.Fprintf(w, "insert/bare req/s: %.2f (the durable floor: one SQLite insert per request, group commit)\n", rep.InsertRatio)
	}
	if ins != nil && gw != nil && ins.ReqPerSec > 0 {
		fmt.Fprintf(w, "gateway/insert req/s: %.2f\n", gw.ReqPerSec/ins.ReqPerSec)
	}
	if bare != nil && gw != nil && bare.ReqPerSec > 0 {
		rep.Ratio = gw.ReqPerSec / bare.ReqPerSec
		ratioOK, p99OK := rep.Ratio >= targetRatio, gw.p99 < targetP99
		met := ratioOK && p99OK
		rep.TargetMet = &met
		fmt.Fprintf(w, "gateway/bare req/s: %.2f (target >= %.2f): %s\n", rep.Ratio, targetRatio, okMiss(ratioOK))
		fmt.Fprintf(w, "gateway p99: %s (target < %s): %s\n", fmtMs(gw.P99Ms), targetP99, okMiss(p99OK))
	}
}

func okMiss(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func fmtMs(ms float64) string {
	if ms < 10 {
		return strconv.FormatFloat(ms, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
}

func errorDetail(r *targetResult) string {
	var parts []string
	for s, c := range r.Statuses {
		parts = append(parts, fmt.Sprintf("%s: %d", s, c))
	}
	for k, c := range r.Failures {
		parts = append(parts, fmt.Sprintf("%s: %d", k, c))
	}
	if len(parts) == 0 {
		return ""
	}
	slices.Sort(parts)
	return " (" + strings.Join(parts, ", ") + ")"
}

func fmtStatuses(m map[string]int) string {
	var parts []string
	for s, c := range m {
		parts = append(parts, fmt.Sprintf("%s %d", s, c))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func countErrorLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte("level=ERROR")) {
			n++
		}
	}
	return n
}

func machineInfo() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}
