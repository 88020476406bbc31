package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// loadConfig says how to load one target.
type loadConfig struct {
	urls        []string // POST /v1/messages URLs; connection i uses urls[i % len(urls)]
	sendKey     string
	connections int
	warmup      time.Duration
	duration    time.Duration
	runID       string // keeps Idempotency-Keys unique across runs
}

// loadResult is what the load generator saw inside the measured window.
type loadResult struct {
	accepted    uint64            // 202s completed inside the window
	statuses    map[int]uint64    // other statuses inside the window
	failures    map[string]uint64 // transport errors inside the window, by kind
	hist        histogram         // latency of the 202s inside the window
	elapsed     time.Duration     // the window's length
	from, to    time.Time         // the window
	allAccepted uint64            // 202s in every phase, warm-up included: what the store holds
	loadCPU     time.Duration     // the load generator's CPU time over every phase
}

func (r *loadResult) errors() uint64 {
	var n uint64
	for _, c := range r.statuses {
		n += c
	}
	for _, c := range r.failures {
		n += c
	}
	return n
}

func (r *loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.accepted) / r.elapsed.Seconds()
}

// recipientSeq numbers recipients across workers and targets, so every
// message goes to a different phone number, as OTPs do.
var recipientSeq atomic.Uint64

// runLoad drives cfg.connections closed-loop workers (each one keep-alive
// connection, one request in flight) for warm-up plus duration. A request
// counts when it completes inside the measured window; requests still in
// flight when the window closes finish but are not counted.
func runLoad(ctx context.Context, cfg loadConfig) (*loadResult, error) {
	cpu0 := selfCPU()
	start := time.Now()
	from := start.Add(cfg.warmup)
	to := from.Add(cfg.duration)
	results := make([]*loadResult, cfg.connections)
	var wg sync.WaitGroup
	for i := range cfg.connections {
		results[i] = &loadResult{statuses: map[int]uint64{}, failures: map[string]uint64{}}
		wg.Go(func() { worker(ctx, cfg, i, from, to, results[i]) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	total := &loadResult{statuses: map[int]uint64{}, failures: map[string]uint64{}, elapsed: to.Sub(from), from: from, to: to,
		loadCPU: selfCPU() - cpu0}
	for _, r := range results {
		total.accepted += r.accepted
		total.allAccepted += r.allAccepted
		total.hist.merge(&r.hist)
		for s, c := range r.statuses {
			total.statuses[s] += c
		}
		for k, c := range r.failures {
			total.failures[k] += c
		}
	}
	return total, nil
}

func worker(ctx context.Context, cfg loadConfig, id int, from, to time.Time, res *loadResult) {
	// One transport per worker: a connection of its own, like N
	// independent clients, and no shared pool lock in the load generator.
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	auth := "Bearer " + cfg.sendKey
	url := cfg.urls[id%len(cfg.urls)]
	buf := make([]byte, 0, 512)
	for seq := 0; ; seq++ {
		if ctx.Err() != nil || !time.Now().Before(to) {
			return
		}
		buf = appendOTP(buf[:0], recipientSeq.Add(1), rng.IntN(1_000_000))
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(buf))
		if err != nil {
			res.failures["new request"]++
			return
		}
		req.Header = http.Header{
			"Content-Type":    {"application/json"},
			"Authorization":   {auth},
			"Idempotency-Key": {cfg.runID + "-" + strconv.Itoa(id) + "-" + strconv.Itoa(seq)},
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		status := 0
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
		t1 := time.Now()
		if status == http.StatusAccepted {
			res.allAccepted++
		}
		if t1.Before(from) || t1.After(to) {
			continue
		}
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			res.failures[failureKind(err)]++
		case status == http.StatusAccepted:
			res.accepted++
			res.hist.record(t1.Sub(t0))
		default:
			res.statuses[status]++
		}
	}
}

func failureKind(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed"
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return "net " + op.Op
	}
	return "transport"
}

// appendOTP appends a sign-in code message as a business app sends it:
// phone and WhatsApp for the same number, the otp policy, a TTL and some
// metadata (about 330 bytes).
func appendOTP(b []byte, n uint64, code int) []byte {
	phone := fmt.Appendf(nil, "+447%09d", n%1_000_000_000)
	b = append(b, `{"to":{"phone":"`...)
	b = append(b, phone...)
	b = append(b, `","whatsapp":"`...)
	b = append(b, phone...)
	b = append(b, `"},"body":"Your Acme sign-in code is `...)
	b = fmt.Appendf(b, "%06d", code)
	b = append(b, `. It expires in 10 minutes. Never share this code, not even with Acme staff.","subject":"Your Acme sign-in code","policy":"otp","tags":["otp","login"],"ttl":"10m","metadata":{"user_id":"u-`...)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, `","ip_country":"GB"}}`...)
	return b
}

// selfCPU is this process's CPU time so far (user + system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
