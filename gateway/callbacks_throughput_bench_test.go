package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

// BenchmarkCallbackThroughput measures how fast one app's status callbacks
// reach one healthy receiver on 127.0.0.1 that answers at once: the common
// case. The sender runs as shipped (8 workers, per_host 2, poll 500ms).
// Each op is a batch of 200 messages, 400 callbacks (sent, delivered), and
// ends when all have arrived; callbacks/s is over the op, latency from each
// status change (the payload's timestamp) to its POST reaching the receiver.
//
//	go test -run '^$' -bench CallbackThroughput -benchtime 3x ./gateway/
func BenchmarkCallbackThroughput(b *testing.B) {
	const perOp = 200
	dir := b.TempDir()
	yml := strings.ReplaceAll(baseConfig, "%DSN%", filepath.Join(dir, "sb.db"))
	base, stop := startBenchGateway(b, dir, yml)

	var mu sync.Mutex
	var lat []time.Duration
	arrived := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		var p store.CallbackPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		lat = append(lat, at.Sub(p.Timestamp))
		arrived++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer func() {
		recv.Close()
		stop()
	}()

	hc := &http.Client{Timeout: 30 * time.Second}
	body := batchWithCallbacks(perOp, recv.URL+"/hooks")
	var busy time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages/batch", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+sendKey)
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("batch: %d", resp.StatusCode)
		}
		want := (i + 1) * 2 * perOp
		deadline := time.Now().Add(5 * time.Minute)
		for {
			mu.Lock()
			n := arrived
			mu.Unlock()
			if n >= want {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d callbacks in 5 minutes", n-i*2*perOp, 2*perOp)
			}
			time.Sleep(time.Millisecond)
		}
		busy += time.Since(start)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	b.ReportMetric(float64(arrived)/busy.Seconds(), "callbacks/s")
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
}
