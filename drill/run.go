package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-gw/switchboard/channels/sim"
	"github.com/switchboard-gw/switchboard/client"
	"github.com/switchboard-gw/switchboard/gateway"
	"github.com/switchboard-gw/switchboard/store"
)

// Options configures Run.
type Options struct {
	// Logger receives the gateway's log; nil discards it.
	Logger *slog.Logger
	// Progress receives a line per timeline event and phase of the drill;
	// nil: silent.
	Progress io.Writer
	// Dir holds the drill's SQLite file; "" makes (and removes) a temp dir.
	Dir string
	// SampleEvery is how often breakers and health are read; default 10ms.
	SampleEvery time.Duration
}

// post is one message the traffic generator tried to send.
type post struct {
	n          int
	at         time.Time // the POST started
	acceptedAt time.Time // the 202 arrived (zero: not accepted)
	id         string
	err        string
}

// sample is one channel's view at one moment.
type sample struct {
	at                   time.Time
	breaker, state, mode string
	// silent: the receipt breaker says the channel accepts messages but
	// does not deliver them (GET /v1/channels shows state "silent"). since
	// is the breaker's own time for the latest change: its silent_since
	// when silent, its recovered_at when it came back (zero: never silent).
	silent bool
	since  time.Time
}

// appliedEvent is a timeline event as it was applied.
type appliedEvent struct {
	Event
	applied time.Time
	err     error
}

// run is the raw record of one drill, before analysis.
type run struct {
	sc        *Scenario
	t0, tEnd  time.Time // traffic start and end
	finished  time.Time // drain over
	posts     []*post
	notPosted int
	events    []appliedEvent
	samples   map[string][]sample // per channel, changes only (and the first)
	msgs      map[string]*store.Message
	getErrs   map[string]error
	sends     map[string]map[string]int // message id -> channel -> sim accepts
	order     []string                  // channel names in config order
	wall      time.Duration
}

// Run performs the drill and returns its report. The error is for a drill
// that could not run; missed targets are in the report (Report.Pass).
func Run(ctx context.Context, sc *Scenario, o Options) (*Report, error) {
	start := time.Now()
	if o.SampleEvery <= 0 {
		o.SampleEvery = 10 * time.Millisecond
	}
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "drill %s: %s\n", sc.Name, fmt.Sprintf(format, args...))
		}
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "switchboard-drill-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	cfg, err := sc.buildConfig(sc.Path, filepath.Join(dir, "drill.db"))
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("build gateway: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	url := "http://" + ln.Addr().String()
	st := g.Store // Run closes it; read everything before stopping
	runCtx, stopGateway := context.WithCancel(context.Background())
	gwDone := make(chan error, 1)
	go func() { gwDone <- g.Run(runCtx, ln) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		stopGateway()
		return <-gwDone
	}
	defer stop()

	if err := waitReady(ctx, url); err != nil {
		return nil, err
	}
	r := &run{sc: sc, samples: map[string][]sample{}, msgs: map[string]*store.Message{},
		getErrs: map[string]error{}, sends: map[string]map[string]int{}}
	sims := map[string]*sim.Sim{}
	for _, l := range g.Dispatcher.Router().Lanes() {
		s, ok := l.Channel.(*sim.Sim)
		if !ok {
			return nil, fmt.Errorf("channel %s is %T, not a sim channel", l.Name, l.Channel)
		}
		sims[l.Name] = s
		r.order = append(r.order, l.Name)
	}

	// Breakers and health, sampled in process (no HTTP in the way).
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampling sync.WaitGroup
	sampling.Go(func() {
		tk := time.NewTicker(o.SampleEvery)
		defer tk.Stop()
		for {
			now := time.Now()
			for _, l := range g.Dispatcher.Router().Lanes() {
				s := sample{at: now, breaker: l.BreakerState(), mode: sims[l.Name].Mode(), state: "healthy"}
				if hs, ok := g.Health.Status(l.Name); ok {
					s.state = string(hs.State)
				}
				rh := l.ReceiptHealth()
				s.silent = rh.Silent() // an atomic load: cheap every tick
				prev := r.samples[l.Name]
				n := len(prev)
				if n > 0 {
					s.since = prev[n-1].since
				}
				if rh != nil && (n == 0 || prev[n-1].silent != s.silent) {
					// The breaker's own times, as GET /v1/channels shows
					// them (silent_since), read only when silent changes.
					st := rh.Stats(now)
					s.silent = st.Silent
					switch {
					case st.Silent:
						s.since = st.SilentSince
					case !st.RecoveredAt.IsZero():
						s.since = st.RecoveredAt
					}
				}
				if n == 0 || prev[n-1].breaker != s.breaker || prev[n-1].state != s.state || prev[n-1].mode != s.mode || prev[n-1].silent != s.silent {
					r.samples[l.Name] = append(prev, s)
				}
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-tk.C:
			}
		}
	})

	progress("gateway on %s; %v msg/s for %s, then up to %s to drain", url, sc.Traffic.Rate, sc.Duration, sc.Drain)
	r.t0 = time.Now()
	var timeline sync.WaitGroup
	timeline.Go(func() {
		for _, e := range sc.Timeline {
			if !sleepUntil(ctx, r.t0.Add(e.At.D())) {
				return
			}
			ae := appliedEvent{Event: e, applied: time.Now()}
			for name, s := range sims {
				if e.Channel == "*" || e.Channel == name {
					ae.err = errors.Join(ae.err, s.SetMode(e.Mode))
				}
			}
			r.events = append(r.events, ae)
			progress("t=%5.1fs %s", ae.applied.Sub(r.t0).Seconds(), e.label())
		}
	})
	r.posts, r.notPosted = generate(ctx, sc, url, r.t0)
	r.tEnd = time.Now()
	timeline.Wait()
	accepted := 0
	for _, p := range r.posts {
		if p.id != "" {
			accepted++
		}
	}
	progress("traffic done: %d posted, %d accepted; draining", len(r.posts), accepted)

	// Drain: every accepted message final (or sent and no longer waited on).
	deadline := time.Now().Add(sc.Drain.D())
	pending := make([]string, 0, accepted)
	for _, p := range r.posts {
		if p.id != "" {
			pending = append(pending, p.id)
		}
	}
	for len(pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		still := pending[:0]
		for _, id := range pending {
			m, err := st.Get(ctx, id)
			if err != nil || !settled(m, time.Now()) {
				still = append(still, id)
			}
		}
		pending = still
		if len(pending) > 0 {
			sleepUntil(ctx, time.Now().Add(200*time.Millisecond))
		}
	}
	// Late receipts (the sims' receipt delay) land before the final read.
	sleepUntil(ctx, time.Now().Add(maxReceiptDelay(sc)+200*time.Millisecond))
	r.finished = time.Now()
	stopSampling()
	sampling.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	for _, p := range r.posts {
		if p.id == "" {
			continue
		}
		m, err := st.Get(ctx, p.id)
		if err != nil {
			r.getErrs[p.id] = err
		} else {
			r.msgs[p.id] = m
		}
		per := map[string]int{}
		for name, s := range sims {
			if n := s.Sends(p.id); n > 0 {
				per[name] = n
			}
		}
		r.sends[p.id] = per
	}
	if err := stop(); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	r.wall = time.Since(start)
	return analyze(r), nil
}

// settled: nothing more will happen to m without a receipt.
func settled(m *store.Message, now time.Time) bool {
	if m.Status.Final() && !store.AwaitsRead(m.Status, m.NextAt) {
		return true
	}
	// Accepted by a provider, no receipt, and the TTL passed: the
	// dispatcher stopped waiting (the message stays "sent").
	return m.Status == store.StatusSent && m.NextAt.IsZero() && !m.ExpiresAt.IsZero() && now.After(m.ExpiresAt)
}

func maxReceiptDelay(sc *Scenario) time.Duration {
	var d time.Duration
	for _, ch := range sc.config.Channels {
		opts := sim.DefaultOptions()
		if err := ch.DecodeOptions(&opts); err == nil {
			d = max(d, opts.ReceiptDelay.D()+opts.Latency.D()+opts.Jitter.D())
		}
	}
	return d
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

func waitReady(ctx context.Context, url string) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := hc.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gateway not ready: %w", err)
		}
		if !sleepUntil(ctx, time.Now().Add(20*time.Millisecond)) {
			return ctx.Err()
		}
	}
}

// generate posts messages at the scenario's rate, open loop: a slow gateway
// does not slow the traffic down (requests pile up to the concurrency cap,
// and ticks past it are counted as not posted).
func generate(ctx context.Context, sc *Scenario, url string, t0 time.Time) ([]*post, int) {
	tr := sc.Traffic
	c := client.New(url, sendKey)
	c.HTTP = &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConns: tr.Concurrency, MaxIdleConnsPerHost: tr.Concurrency, IdleConnTimeout: time.Minute},
	}
	kinds := map[string]bool{}
	for _, ch := range sc.config.Channels {
		kinds[ch.Kind] = true
	}
	interval := time.Duration(float64(time.Second) / tr.Rate)
	total := int(sc.Duration.D() / interval)
	posts := make([]*post, 0, total)
	sem := make(chan struct{}, tr.Concurrency)
	var (
		wg        sync.WaitGroup
		notPosted atomic.Int64
	)
	for i := range total {
		if !sleepUntil(ctx, t0.Add(time.Duration(i)*interval)) {
			break
		}
		select {
		case sem <- struct{}{}:
		default:
			notPosted.Add(1)
			continue
		}
		p := &post{n: i, at: time.Now()}
		posts = append(posts, p)
		wg.Go(func() {
			defer func() { <-sem }()
			k := i % tr.Recipients
			phone := fmt.Sprintf("+1555%07d", k)
			req := &client.SendRequest{Body: fmt.Sprintf("Your code is %06d", i%1_000_000), Policy: tr.Policy, Tags: tr.Tags,
				Metadata: map[string]string{"drill": sc.Name, "n": fmt.Sprint(i)}}
			if tr.TTL > 0 {
				req.TTL = tr.TTL.D().String()
			}
			if kinds["sms"] {
				req.To.Phone = phone
			}
			if kinds["whatsapp"] {
				req.To.WhatsApp = phone
			}
			if kinds["email"] {
				req.To.Email = fmt.Sprintf("user%d@drill.example.com", k)
			}
			if kinds["telegram"] {
				req.To.Telegram = fmt.Sprint(100000000 + k)
			}
			res, err := c.Send(ctx, req, "")
			if err != nil {
				p.err = err.Error()
				return
			}
			p.acceptedAt, p.id = time.Now(), res.ID
		})
	}
	wg.Wait()
	return posts, int(notPosted.Load())
}
