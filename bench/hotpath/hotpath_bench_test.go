package hotpath

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/switchboard-gw/switchboard/admission"
	"github.com/switchboard-gw/switchboard/api"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
	"github.com/switchboard-gw/switchboard/store"
)

const sendKey = "bench-send-key-0123456789"

// The gateway of bench/gwperf: two sim channels at latency 0 with receipts
// at once, the otp policy of bench/ingest/gateway.yaml.
const gatewayYAML = `
server: {listen: "127.0.0.1:0"}
store: {driver: sqlite, dsn: "DBPATH"}
auth:
  keys:
    - {name: bench, key: "` + sendKey + `", role: send}
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

func sendBody(i int) []byte {
	return fmt.Appendf(nil, `{"to":{"phone":"+1555%07d","whatsapp":"+1555%07d"},"body":"Your Switchboard verification code is 123456. It expires in 10 minutes. Do not share it.","tags":["otp"],"metadata":{"order":"%d"}}`, i%10000000, i%10000000, i)
}

// admissionYAML is gatewayYAML with the abuse controls on the otp policy:
// a destination country allow list (every number is placed) and a
// per-recipient limit (counted inside the enqueue).
var admissionYAML = strings.Replace(gatewayYAML, "    ttl: 10m\n",
	"    ttl: 10m\n    countries: {allow: [US, CA, GB]}\n    limits: {per_recipient: \"5/h\"}\n", 1)

func newGateway(b *testing.B) *gateway.Gateway {
	b.Helper()
	return newGatewayFrom(b, gatewayYAML)
}

func newGatewayFrom(b *testing.B, yml string) *gateway.Gateway {
	b.Helper()
	db := filepath.Join(b.TempDir(), "bench.db")
	cfg, err := config.Parse("bench.yaml", bytes.ReplaceAll([]byte(yml), []byte("DBPATH"), []byte(db)))
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	g, err := gateway.New(b.Context(), cfg, gateway.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		// Receipts scheduled by sim sends may still be on their way.
		time.Sleep(50 * time.Millisecond)
		_ = g.Store.Close()
	})
	return g
}

func BenchmarkDecodeSendRequest(b *testing.B) {
	body := sendBody(42)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := api.DecodeSendRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendHandler: POST /v1/messages through the API handler with
// auth, decode, validation, routing and a durable enqueue. The dispatcher
// is not running: the first 128 messages take the hand-off path, the rest
// are stored unleased for the claim loop. Parallel (~64 goroutines, as the
// ingest bench's 64 connections) so that enqueues share group commits.
func BenchmarkSendHandler(b *testing.B) {
	benchSendHandler(b, newGateway(b))
}

// BenchmarkSendHandlerAdmission is BenchmarkSendHandler with the otp
// policy's countries and per-recipient limit on (admissionYAML): what the
// abuse controls add to a send. Every send places its number (+1555, an
// unassigned range, is the slowest kind: no region's patterns match) and
// counts its recipient in the enqueue.
func BenchmarkSendHandlerAdmission(b *testing.B) {
	benchSendHandler(b, newGatewayFrom(b, admissionYAML))
}

// BenchmarkAdmission is the phone number work of one send, alone: the
// possibility check every send pays, and placing the number, which a
// policy with countries (and explain) adds. One number used as phone and
// whatsapp is parsed once.
func BenchmarkAdmission(b *testing.B) {
	to := store.Recipient{Phone: "+15551234567", WhatsApp: "+15551234567"}
	b.Run("possible", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := admission.ParseRecipient(to); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Placing a number costs what its calling code's regions cost to try:
	// +1 has two dozen, +44 four, +49 one.
	for _, number := range []string{"+15551234567", "+14155238886", "+447700900123", "+4915123456789"} {
		b.Run("possible+place "+number[:3], func(b *testing.B) {
			b.ReportAllocs()
			to := store.Recipient{Phone: number, WhatsApp: number}
			for b.Loop() {
				p, err := admission.ParseRecipient(to)
				if err != nil {
					b.Fatal(err)
				}
				if c := p.Countries(); c.Phone == "" {
					b.Fatal("not placed")
				}
			}
		})
	}
	// A policy's check places a number only when its calling code's
	// regions disagree about the list: +1 under allow [US, CA, GB] (US,
	// Canada or the Caribbean?) is placed; +1 under deny [RU] is not.
	for _, tc := range []struct {
		name   string
		number string
		rule   config.Countries
	}{
		{"allow +1", "+15551234567", config.Countries{Allow: []string{"US", "CA", "GB"}}},
		{"deny +1", "+15551234567", config.Countries{Deny: []string{"RU"}}},
		{"allow +49", "+4915123456789", config.Countries{Allow: []string{"US", "DE"}}},
	} {
		b.Run("possible+check "+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			to := store.Recipient{Phone: tc.number, WhatsApp: tc.number}
			for b.Loop() {
				p, err := admission.ParseRecipient(to)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.CheckCountries("otp", tc.rule); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPolicyMatch is choosing a send's policy when one matches on
// countries (match: {countries: [IN, BR], tags: [otp]}): the calling
// code's regions settle both (+91 is only IN; none of +1's two dozen is
// listed), so neither number is placed (placing +1555 costs tens of
// microseconds: BenchmarkAdmission).
func BenchmarkPolicyMatch(b *testing.B) {
	pols := []*config.Policy{
		{Name: "otp-in-br", Match: config.Match{Countries: []string{"IN", "BR"}, Tags: []string{"otp"}}},
		{Name: "otp", Match: config.Match{Tags: []string{"otp"}}},
	}
	for _, tc := range []struct{ name, number, want string }{
		{"+91 matches countries", "+919876543210", "otp-in-br"},
		{"+1 falls through", "+15551234567", "otp"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			to := store.Recipient{Phone: tc.number}
			tags := []string{"otp"}
			for b.Loop() {
				p, err := admission.ParseRecipient(to)
				if err != nil {
					b.Fatal(err)
				}
				if pol := config.MatchPolicy(pols, p.MatchInput(tags)); pol == nil || pol.Name != tc.want {
					b.Fatal("wrong policy")
				}
			}
		})
	}
}

func benchSendHandler(b *testing.B, g *gateway.Gateway) {
	var n atomic.Int64
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			req := httptest.NewRequest(http.MethodPost, "/v1/messages", bytes.NewReader(sendBody(i)))
			req.Header.Set("Authorization", "Bearer "+sendKey)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", run+"-"+strconv.Itoa(i))
			w := httptest.NewRecorder()
			g.API.ServeHTTP(w, req)
			if w.Code != http.StatusAccepted {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkProcess: the dispatcher's work for one fresh message: step
// (route decision, sim send) and Advance on the SQLite store, from ~64
// workers as Run does; messages are stored pre-claimed beforehand, as the
// API's hand-off stores them. The sim's delivered receipt (RecordReceipt)
// runs asynchronously and is counted.
func BenchmarkProcess(b *testing.B) {
	g := newGateway(b)
	d := g.Dispatcher
	ctx := context.Background()
	msgs := make([]*store.Message, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				now := time.Now().UTC()
				id := uuid.Must(uuid.NewV7()).String()
				phone := fmt.Sprintf("+1555%07d", i)
				m, _, err := g.Store.Enqueue(ctx, &store.Message{
					ID: id, IdempotencyScope: "bench", IdempotencyKey: "k-" + id, RequestHash: "sha256:0123",
					Policy: "otp", Route: []string{"whatsapp", "sms"},
					To:   store.Recipient{Phone: phone, WhatsApp: phone},
					Body: "Your Switchboard verification code is 123456.", Tags: []string{"otp"},
					CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute), NextAt: now,
					LeaseOwner: d.Owner(), LeaseUntil: now.Add(d.Lease()),
				})
				if err != nil {
					b.Error(err)
					return
				}
				msgs[i] = m
			}
		})
	}
	wg.Wait()
	var idx atomic.Int64
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d.Process(msgs[idx.Add(1)-1])
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
