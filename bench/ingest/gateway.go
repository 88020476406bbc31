package main

import (
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // ... or its PostgreSQL database
	_ "modernc.org/sqlite"             // the backlog sampler reads the gateway's database

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
)

//go:embed gateway.yaml
var gatewayYAML []byte

//go:embed gateway-postgres.yaml
var gatewayPostgresYAML []byte

const (
	sendKey = "dev-send-key-0123456789"
	readKey = "dev-read-key-0123456789"
)

// buildGateway builds cmd/switchboard into dir with the go command on PATH.
func buildGateway(ctx context.Context, dir string) (string, error) {
	bin := dir + "/switchboard"
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/switchboard-gw/switchboard/cmd/switchboard")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build switchboard: %w\n%s", err, out)
	}
	return bin, nil
}

// serveGateway runs the gateway in this process, as `switchboard serve`
// does (gateway.New + Run), writing a CPU profile for the whole run. It is
// the bench binary re-executed with -serve-gateway when -cpuprofile is set:
// the serve command has no pprof endpoint, and this gives the same code
// under the same load.
func serveGateway(addr, cfgPath, profPath string, tr traceWindow) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(log)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	f, err := os.Create(profPath)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	if tr.path != "" {
		go tr.take(ctx)
	}
	return g.Run(ctx, ln)
}

// traceWindow is a runtime/trace of the in-process gateway: length long,
// from at after the gateway started (-trace). A trace shows what a CPU
// profile cannot: how long each goroutine (the store's writer, the WAL
// syncer) waited, and for what.
type traceWindow struct {
	path       string
	at, length time.Duration
}

func (tr traceWindow) take(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(tr.at):
	}
	f, err := os.Create(tr.path)
	if err != nil {
		slog.Error("trace", "err", err)
		return
	}
	defer f.Close()
	if err := trace.Start(f); err != nil {
		slog.Error("trace", "err", err)
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(tr.length):
	}
	trace.Stop()
}

// backlog samples, once a second, how many messages wait in the gateway's
// store. It reads the SQLite file (read-only) or the PostgreSQL database
// directly: the API can only page through a status, which is too slow for
// 100k messages. It knows the messages and attempts columns of the stores'
// 0001_init.sql; if they change, the sampler reports n/a and the bench
// carries on.
type backlog struct {
	db *sql.DB
	ph func(i int) string // the i-th (1-based) query placeholder

	mu      sync.Mutex
	samples []backlogSample
	err     error
}

type backlogSample struct {
	AtS     float64 `json:"at_s"` // seconds since the load started
	Queued  int     `json:"queued"`
	Sending int     `json:"sending"`
	Sent    int     `json:"sent"` // handed to the provider, waiting for the receipt
}

// openBacklog opens the gateway's database: for store "sqlite" db is the
// file's path, for "postgres" a DSN.
func openBacklog(storeName, db string) (*backlog, error) {
	if storeName == "postgres" {
		pg, err := sql.Open("pgx", db)
		if err != nil {
			return nil, err
		}
		pg.SetMaxOpenConns(1)
		return &backlog{db: pg, ph: func(i int) string { return "$" + strconv.Itoa(i) }}, nil
	}
	lite, err := sql.Open("sqlite", db+"?_pragma=query_only(1)&_pragma=busy_timeout(2000)")
	if err != nil {
		return nil, err
	}
	lite.SetMaxOpenConns(1)
	return &backlog{db: lite, ph: func(int) string { return "?" }}, nil
}

// deliveredBetween counts the messages with a delivered attempt recorded in
// [from, to) (by its delivered_at: the receipt's time, or the send's when
// the provider reported delivery at once).
func (b *backlog) deliveredBetween(ctx context.Context, from, to time.Time) (int, error) {
	var lo, hi any = from.UnixNano(), to.UnixNano() // SQLite: unix nanoseconds
	if b.ph(1) != "?" {
		lo, hi = from, to
	}
	var n int
	err := b.db.QueryRowContext(ctx, "SELECT COUNT(DISTINCT message_id) FROM attempts WHERE delivered_at >= "+
		b.ph(1)+" AND delivered_at < "+b.ph(2), lo, hi).Scan(&n)
	return n, err
}

func (b *backlog) count(ctx context.Context, statuses ...string) (map[string]int, error) {
	q := "SELECT status, COUNT(*) FROM messages GROUP BY status"
	args := make([]any, len(statuses))
	if len(statuses) > 0 {
		marks := make([]string, len(statuses))
		for i, s := range statuses {
			args[i], marks[i] = s, b.ph(i+1)
		}
		q = "SELECT status, COUNT(*) FROM messages WHERE status IN (" + strings.Join(marks, ",") + ") GROUP BY status"
	}
	rows, err := b.db.QueryContext(ctx, q, args...)
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

// sample runs until ctx is done.
func (b *backlog) sample(ctx context.Context, start time.Time) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c, err := b.count(ctx, "queued", "sending", "sent")
		b.mu.Lock()
		if err != nil {
			if ctx.Err() == nil && b.err == nil {
				b.err = err
			}
		} else {
			b.samples = append(b.samples, backlogSample{AtS: math.Round(time.Since(start).Seconds()*10) / 10,
				Queued: c["queued"], Sending: c["sending"], Sent: c["sent"]})
		}
		b.mu.Unlock()
	}
}

// max is the largest queued+sending seen.
func (b *backlog) max() (backlogSample, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var m backlogSample
	for _, s := range b.samples {
		if s.Queued+s.Sending >= m.Queued+m.Sending {
			m = s
		}
	}
	return m, len(b.samples) > 0
}

// drain polls the API until no message is queued or sending, and returns
// how long that took. limit=1 keeps each poll cheap however large the
// backlog.
func drain(ctx context.Context, base string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	left := func(status string) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/messages?limit=1&status="+status, nil)
		req.Header.Set("Authorization", "Bearer "+readKey)
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("GET /v1/messages?status=%s: %s", status, resp.Status)
		}
		var page struct {
			Messages []json.RawMessage `json:"messages"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
			return false, fmt.Errorf("GET /v1/messages?status=%s: %w", status, err)
		}
		return len(page.Messages) > 0, nil
	}
	for {
		q, err := left("queued")
		if err == nil && !q {
			var s bool
			s, err = left("sending")
			if err == nil && !s {
				return time.Since(start), nil
			}
		}
		if ctx.Err() != nil {
			return time.Since(start), fmt.Errorf("queue not drained after %s", timeout)
		}
		if err != nil {
			return time.Since(start), err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
