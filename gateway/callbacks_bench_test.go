package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
	"github.com/switchboard-gw/switchboard/store"
)

// BenchmarkCallbackIsolation measures how long an honest app waits for its
// status callbacks (from the status change to the POST reaching it) while
// `hung` messages have callbacks queued for a receiver on 127.0.0.1 that
// accepts connections and never answers. The sender runs as shipped:
// callbacks.timeout 10s, poll 500ms, retries from 1s, breaker after 5
// failures; per_host is 2, or 8 (as many as the workers: no isolation).
// Each op is one honest message and its two callbacks (sent, delivered).
//
//	go test -run '^$' -bench CallbackIsolation -benchtime 40x ./gateway/
func BenchmarkCallbackIsolation(b *testing.B) {
	for _, bc := range []struct {
		name          string
		hung, perHost int
	}{
		{"hung=0", 0, 2},
		{"hung=200", 200, 2},
		{"hung=200/per_host=8", 200, 8},
	} {
		b.Run(bc.name, func(b *testing.B) { benchIsolation(b, bc.hung, bc.perHost) })
	}
}

func benchIsolation(b *testing.B, hung, perHost int) {
	dir := b.TempDir()
	yml := strings.ReplaceAll(baseConfig, "%DSN%", filepath.Join(dir, "sb.db"))
	yml = strings.Replace(yml, "callbacks: {allow_hosts: [127.0.0.1/32]}", "callbacks: {allow_hosts: [127.0.0.1/32], per_host: "+strconv.Itoa(perHost)+"}", 1)
	base, stop := startBenchGateway(b, dir, yml)

	// The hung receiver: accepts, reads, never answers. Closed before the
	// gateway stops, so no POST hangs its shutdown.
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var hmu sync.Mutex
	var hconns []net.Conn
	go func() {
		for {
			c, err := hl.Accept()
			if err != nil {
				return
			}
			hmu.Lock()
			hconns = append(hconns, c)
			hmu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	defer func() {
		hl.Close()
		hmu.Lock()
		for _, c := range hconns {
			c.Close()
		}
		hmu.Unlock()
		stop()
	}()

	// The honest receiver: when each callback arrived, by message.
	var mu sync.Mutex
	arrived := map[string][]time.Duration{}
	honest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		var p store.CallbackPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		arrived[p.ID] = append(arrived[p.ID], at.Sub(p.Timestamp))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer honest.Close()

	hc := &http.Client{Timeout: 30 * time.Second}
	post := func(path, body string) map[string]any {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+sendKey)
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode >= 300 {
			b.Fatalf("%s: %d %v %v", path, resp.StatusCode, out, err)
		}
		return out
	}
	if hung > 0 {
		post("/v1/messages/batch", batchWithCallbacks(hung, "http://"+hl.Addr().String()+"/hooks"))
		// Let the hung receiver's callbacks take what they can.
		time.Sleep(2 * time.Second)
	}

	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		id := post("/v1/messages", withCallbackURL(otpBody, honest.URL+"/hooks"))["id"].(string)
		deadline := time.Now().Add(2 * time.Minute)
		for {
			mu.Lock()
			got := arrived[id]
			mu.Unlock()
			if len(got) >= 2 {
				lat = append(lat, got...)
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("message %s: %d callbacks in 2 minutes", id, len(got))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
}

// startBenchGateway runs a gateway on yml (its config file written to dir)
// on a loopback port; stop ends it and reports how Run returned.
func startBenchGateway(b *testing.B, dir, yml string) (base string, stop func()) {
	b.Helper()
	path := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler), ConfigFile: path})
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	return "http://" + ln.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}
}
