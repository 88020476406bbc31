// Package gateway assembles a running Switchboard from a config: the store,
// the channels with their breakers and probes, the routing core and the
// HTTP API. cmd/switchboard and the end-to-end tests both use it.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/crypto/acme/autocert"

	"github.com/switchboard-gw/switchboard/api"
	"github.com/switchboard-gw/switchboard/callbacks"
	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/health"
	"github.com/switchboard-gw/switchboard/metrics"
	"github.com/switchboard-gw/switchboard/retention"
	"github.com/switchboard-gw/switchboard/routing"
	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/postgres"
	"github.com/switchboard-gw/switchboard/store/sqlite"

	// Channel types register themselves.
	_ "github.com/switchboard-gw/switchboard/channels/all"
)

// Gateway is one running Switchboard process.
type Gateway struct {
	Store      store.Store
	Health     *health.Monitor
	Dispatcher *routing.Dispatcher
	API        *api.Server
	Metrics    *metrics.Metrics
	// Callbacks delivers status callbacks from the store's outbox. Run
	// starts it and stops it at shutdown; set its test knobs (FirstRetry,
	// Poll) before Run.
	Callbacks *callbacks.Sender
	// Retention purges old finished messages (store.retention). Reload
	// sets its keep period.
	Retention *retention.Runner

	// cbSecrets maps API key names to callback signing secrets (reload swaps it).
	cbSecrets atomic.Pointer[map[string][]string]

	log      *slog.Logger
	fatalLog *slog.Logger // log without fatalQuiet (see New)
	opts     Options
	cfg      atomic.Pointer[config.Config] // the config in force
	receipts *routing.Receipts

	// mu serialises reloads with each other, with Run's start and with
	// shutdown, and guards the fields below.
	mu       sync.Mutex
	chans    map[string]channels.Channel // the instance in use, by name
	retiring map[*retiree]struct{}       // replaced or removed, closed after a grace period
	started  bool                        // Run has handed the channels to the health monitor
	closed   bool
	listen   string // the address Run serves on, once it does

	// TLS (gateway/tls.go): certificate files or ACME; both nil for
	// plain HTTP. stopACME ends the ACME manager's requests at shutdown.
	certs    *certFiles
	acme     *autocert.Manager
	stopACME context.CancelFunc
	// metrics serves /metrics on server.metrics_listen (nil when /metrics
	// is on the main listener).
	metrics http.Handler
}

// Options configures New.
type Options struct {
	Logger *slog.Logger
	// Store, if set, is used instead of opening the configured one.
	Store store.Store
	// ConfigFile is the file Reload re-reads. Empty: the config has no
	// file (the embedded example) and Reload returns ErrNoConfigFile.
	ConfigFile string
	// Adjust is applied to every config Reload loads, as the caller
	// applied it to the first one: command-line overrides (--listen).
	Adjust func(*config.Config)
	// WatchConfig makes Run reload when ConfigFile changes on disk.
	WatchConfig bool
	// FailDrain is how long the gateway keeps answering after its store
	// failed for good (store.Failer) before it shuts down: sends get 503
	// and /readyz 503 meanwhile, so a load balancer's readiness probe takes
	// the instance out of rotation. Ending Run's context ends it early.
	// Zero: 2 s.
	FailDrain time.Duration
	// LogLevel, if set, is the level of Logger's handler: New sets it to
	// the config's log.level and Reload to a changed one. (log.format
	// needs a restart: a reload that changes it is refused.)
	LogLevel *slog.LevelVar
	// Dev lets the gateway serve the example config's published API keys
	// on an address other machines can reach (serve --dev, for demos);
	// otherwise Run and Reload refuse such a config.
	Dev bool
	// LimitClock, if set, is the clock of the API's abuse limits (per-key
	// rate limits, the failed-authentication throttle): tests advance it
	// instead of sleeping. Default time.Now.
	LimitClock func() time.Time
	// Clock, if set, is the clock of the API's accept time and send_at,
	// and of the dispatcher's claims and steps: tests move it forward to
	// make a scheduled message due, instead of sleeping. Default time.Now.
	Clock func() time.Time
}

// New builds a gateway from cfg. Nothing runs until Run.
func New(ctx context.Context, cfg *config.Config, o Options) (*Gateway, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	// Components log through fatalQuiet; g.fatalLog is the one line a
	// storage failure gets.
	fatalLog := log
	log = slog.New(fatalQuiet(log.Handler()))
	g := &Gateway{log: log, fatalLog: fatalLog, opts: o, Store: o.Store, chans: map[string]channels.Channel{}, retiring: map[*retiree]struct{}{}}
	g.cfg.Store(cfg)
	g.warnKeyDefaults(cfg)
	switch t := cfg.Server.TLS; {
	case t.ACME.Enabled():
		actx, stop := context.WithCancel(context.Background())
		m, err := newACME(actx, cfg)
		if err != nil {
			stop()
			return nil, err
		}
		g.acme, g.stopACME = m, stop
	case t.Enabled():
		c, err := newCertFiles(cfg, log)
		if err != nil {
			return nil, err
		}
		g.certs = c
	}
	if o.LogLevel != nil {
		if lv, err := config.ParseLogLevel(cfg.Log.Level); err == nil {
			o.LogLevel.Set(lv)
		}
	}
	if g.Store == nil {
		st, err := OpenStore(ctx, cfg.Store)
		if err != nil {
			if g.stopACME != nil {
				g.stopACME()
			}
			return nil, err
		}
		g.Store = st
	}
	if ls, ok := g.Store.(*sqlite.Store); ok {
		if r := ls.Released(); r.Messages+r.Callbacks > 0 {
			log.Info("released the leases a previous process left in the database; that work is due now",
				"messages", r.Messages, "callbacks", r.Callbacks, "took", r.Took)
		}
	}
	ok := false
	defer func() {
		if !ok {
			g.closeParts()
		}
	}()

	hostname, _ := os.Hostname()
	owner := fmt.Sprintf("%s/%d/%s", hostname, os.Getpid(), uuid.NewString()[:8])
	g.Metrics = metrics.New()
	g.receipts = &routing.Receipts{Store: g.Store, Logger: log, Observer: g.Metrics}
	g.Health = health.New(log)
	g.Health.OnProbe(g.Metrics.Probe)
	var lanes []*routing.Lane
	for _, cc := range cfg.Channels {
		ch, err := channels.Build(cc, g.channelDeps(cfg, cc))
		if err != nil {
			return nil, err
		}
		g.chans[cc.Name] = ch
		lanes = append(lanes, routing.NewLane(ch, cc, log))
	}
	router, err := routing.NewRouter(cfg.Policies, lanes, g.Health)
	if err != nil {
		return nil, err
	}
	// A recorded status change may have a callback due: the sender claims
	// it at once rather than at its next poll.
	callbackDue := func() {
		if g.Callbacks != nil {
			g.Callbacks.Wake()
		}
	}
	g.Dispatcher = routing.NewDispatcher(g.Store, router, cfg.Dispatch, routing.DispatcherOptions{Owner: owner, Logger: log, Observer: g.Metrics, CallbackDue: callbackDue, Now: o.Clock})
	g.receipts.Wake = g.Dispatcher.Wake
	g.receipts.CallbackDue = callbackDue
	g.receipts.Router = g.Dispatcher.Router // receipt breaker: silent-outage detection
	g.setCallbackSecrets(cfg)
	cbPolicy, err := callbacks.NewAddressPolicy(cfg.Callbacks)
	if err != nil {
		return nil, err
	}
	g.Callbacks = &callbacks.Sender{
		Store:   g.Store,
		Secrets: g.callbackSecrets,
		Owner:   owner,
		Timeout: cfg.Callbacks.Timeout.D(),
		Horizon: cfg.Callbacks.Horizon.D(),
		Workers: cfg.Callbacks.Workers,
		PerHost: cfg.Callbacks.PerHost,
		Logger:  log.With("component", "callbacks"),
		Obs:     g.Metrics,
	}
	g.Callbacks.SetPolicy(cbPolicy)
	g.Retention = &retention.Runner{Store: g.Store, Logger: log.With("component", "retention"), Obs: g.Metrics}
	g.Retention.SetKeep(cfg.Store.Retention.D())
	g.Metrics.WatchChannels(channelStates{g})
	g.Metrics.WatchQueue(g.Store)
	g.Metrics.Reload(true, time.Now())
	deps := api.Deps{
		Config: cfg, Store: g.Store, Dispatch: g.Dispatcher, Health: g.Health, Receipts: g.receipts, Logger: log,
		Metrics:  promhttp.HandlerFor(g.Metrics.Registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}),
		Accepted: g.Metrics.Accepted,
		Handoff:  true,
		// Abuse limits (api/limits.go).
		RateLimited: g.Metrics.RateLimited, AuthFailed: g.Metrics.AuthFailed, AdmissionRefused: g.Metrics.AdmissionRefused, LimitNow: o.LimitClock,
		Now: o.Clock, CallbackDue: callbackDue,
		SuppressionChanged: g.Metrics.SuppressionChanged,
	}
	deps.Inbound = g.inboundHandler(log, callbackDue)
	if cfg.Server.MetricsListen != "" {
		// Only on its own listener: the main one faces the internet.
		g.metrics, deps.Metrics = deps.Metrics, nil
	}
	if o.ConfigFile != "" {
		deps.Reload = g.Reload
	}
	g.API = api.New(deps)
	ok = true
	return g, nil
}

// Config returns the config in force (the last one loaded or reloaded).
func (g *Gateway) Config() *config.Config { return g.cfg.Load() }

// setCallbackSecrets puts cfg's API keys' callback signing secrets in
// force: at start and on every reload (keys and secrets can change).
func (g *Gateway) setCallbackSecrets(cfg *config.Config) {
	secrets := make(map[string][]string, len(cfg.Auth.Keys))
	for _, k := range cfg.Auth.Keys {
		secrets[k.Name] = k.CallbackSigningSecrets()
	}
	// Inbound messages' callbacks have a scope no API key has (see
	// store.InboundCallbackScope).
	if s := cfg.Inbound.CallbackSecret; s != "" {
		secrets[store.InboundCallbackScope] = []string{s.Reveal()}
	}
	g.cbSecrets.Store(&secrets)
}

// callbackSecrets is the callbacks.Secrets of the config in force: the
// secrets of the API key named scope, the key that sent the message; none
// when that key is no longer configured (the sender then gives up).
func (g *Gateway) callbackSecrets(scope string) []string {
	if m := g.cbSecrets.Load(); m != nil {
		return (*m)[scope]
	}
	return nil
}

func (g *Gateway) channelDeps(cfg *config.Config, cc *config.Channel) channels.Deps {
	return channels.Deps{Logger: g.log.With("channel", cc.Name), Receipts: g.receipts, PublicURL: cfg.Server.PublicURL}
}

// channelStates reports each channel's breaker and health for metrics.
type channelStates struct{ g *Gateway }

func (c channelStates) Channels() []metrics.ChannelState {
	lanes := c.g.Dispatcher.Router().Lanes()
	out := make([]metrics.ChannelState, 0, len(lanes))
	for _, l := range lanes {
		state := string(health.Healthy)
		if hs, ok := c.g.Health.Status(l.Name); ok {
			state = string(hs.State)
		}
		out = append(out, metrics.LaneState(l, state, time.Now()))
	}
	return out
}

// OpenStore opens the configured store.
func OpenStore(ctx context.Context, cfg config.Store) (store.Store, error) {
	switch cfg.Driver {
	case "", "sqlite":
		dsn := cfg.DSN
		if dsn == "" {
			dsn = "data/switchboard.db"
		}
		// sqlite.Open creates the file 0600 and its directories 0700.
		st, err := sqlite.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite store %s: %w", dsn, err)
		}
		return st, nil
	case "postgres":
		st, err := postgres.Open(ctx, cfg.DSN)
		if err != nil {
			// The DSN may hold a password: never print it.
			return nil, fmt.Errorf("open postgres store: %w", err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("store driver %q is not supported", cfg.Driver)
}

// Run serves HTTP on ln and dispatches messages until ctx is done, then
// shuts down gracefully: stop accepting requests, finish the requests and
// sends in flight, release leases, close channels and the store.
func (g *Gateway) Run(ctx context.Context, ln net.Listener) error {
	g.mu.Lock()
	// Judged on the address actually bound: --listen and tests' listeners
	// differ from server.listen.
	if err := g.checkPublishedKeys(g.Config(), ln.Addr().String()); err != nil {
		g.mu.Unlock()
		_ = ln.Close()
		return errors.Join(err, g.closeParts())
	}
	g.listen = ln.Addr().String()
	var mln net.Listener
	if g.metrics != nil {
		l, err := net.Listen("tcp", g.Config().Server.MetricsListen)
		if err != nil {
			g.mu.Unlock()
			_ = ln.Close()
			return errors.Join(fmt.Errorf("server.metrics_listen: listen on %s: %w", g.Config().Server.MetricsListen, err), g.closeParts())
		}
		mln = l
	}
	for _, l := range g.Dispatcher.Router().Lanes() {
		g.Health.Add(l.Name, l.Channel, l.Config.Probe)
	}
	g.started = true
	g.mu.Unlock()
	g.syncOverrides(ctx, g.Store)
	srv := &http.Server{
		TLSConfig:         g.serverTLS(), // nil: plain HTTP
		Handler:           g.API,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          serverErrorLog(g.log.Handler()),
	}
	dctx, stopDispatch := context.WithCancel(context.Background())
	defer stopDispatch()
	cctx, stopCallbacks := context.WithCancel(context.Background())
	defer stopCallbacks()
	var wg sync.WaitGroup
	errc := make(chan error, 4) // one per goroutine below that reports
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := g.Callbacks.Run(cctx); err != nil {
			errc <- fmt.Errorf("status callbacks: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		g.watchOverrides(dctx, g.Store)
	}()
	go func() {
		defer wg.Done()
		_ = g.Retention.Run(dctx) // logs its own failures and retries
	}()
	if rb, ok := g.Store.(store.ReloadBroadcaster); ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.watchPeerReloads(dctx, rb)
		}()
	}
	if n, ok := g.Store.(store.Notifier); ok {
		// Another instance's new or released work wakes this dispatcher
		// at once instead of at its next poll.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-dctx.Done():
					return
				case <-n.Notify():
					g.Dispatcher.Wake()
				}
			}
		}()
	}
	mctx, stopMetrics := context.WithCancel(context.Background())
	defer stopMetrics()
	if mln != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.serveMetrics(mctx, mln, g.metrics); err != nil {
				errc <- err
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		serve := srv.Serve
		if srv.TLSConfig != nil {
			serve = func(l net.Listener) error { return srv.ServeTLS(l, "", "") }
		}
		if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
		}
	}()
	var acmeWG sync.WaitGroup
	if g.acme != nil {
		acmeWG.Go(func() { g.prefetchACME(g.Config().Server.TLS.ACME.Domains) })
	}
	go func() {
		defer wg.Done()
		if err := g.Dispatcher.Run(dctx); err != nil {
			errc <- fmt.Errorf("dispatcher: %w", err)
		}
	}()
	if g.opts.WatchConfig && g.opts.ConfigFile != "" {
		wctx, stopWatch := context.WithCancel(ctx)
		watched := make(chan struct{})
		defer func() { stopWatch(); <-watched }()
		go func() {
			defer close(watched)
			if err := g.watchConfig(wctx, g.opts.ConfigFile, watchDebounce); err != nil {
				// Not fatal: SIGHUP and POST /-/reload still work.
				g.log.Error("config file watcher stopped; reload with SIGHUP or POST /-/reload", "err", err)
			}
		}()
	}
	cfg := g.Config()
	g.log.Info("switchboard serving", "addr", ln.Addr().String(), "tls", tlsMode(cfg), "config", cfg.Path, "summary", cfg.Summary(),
		"log_level", cfg.Log.Level, "log_format", cfg.Log.Format)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	case <-storeFailed(g.Store):
		// Storage errors are fatal: the store refuses every write from now
		// on (sends get 503, /readyz 503) and only a restart, which runs
		// SQLite's recovery, makes it trustworthy again. Shut down as
		// usual, answering the requests in flight, and exit non-zero.
		runErr = g.Store.(store.Failer).FailErr()
		g.fatalLog.Error("storage failed: refusing new messages and shutting down; restart the gateway once the disk is fixed "+
			"(every message answered 202 is on disk)", "err", runErr)
	}
	if errors.Is(runErr, store.ErrFatal) {
		// No new provider call whose outcome could not be recorded: the
		// dispatcher finishes the sends in flight and starts none (what
		// they did is lost with the store; the restart retries them,
		// flagged ambiguous), and callbacks stop.
		stopDispatch()
		stopCallbacks()
		drain := g.opts.FailDrain
		if drain <= 0 {
			drain = 2 * time.Second
		}
		t := time.NewTimer(drain)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	g.log.Info("shutting down")
	timeout := g.Config().Server.ShutdownTimeout.D()
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Stop taking requests first: every 202 already written is on disk.
	if err := srv.Shutdown(sctx); err != nil {
		g.log.Warn("http shutdown", "err", err)
	}
	stopMetrics() // after the main server, so a last scrape sees the shutdown
	if g.stopACME != nil {
		g.stopACME() // an order in flight ends with its requests
	}
	acmeWG.Wait()
	stopDispatch()
	// Callbacks not delivered yet stay in the store's outbox for the next
	// start; a POST in flight finishes (bounded by callbacks.timeout) and
	// its result is recorded before the store closes.
	stopCallbacks()
	wg.Wait()
	close(errc)
	for err := range errc {
		if errors.Is(err, store.ErrFatal) && errors.Is(runErr, store.ErrFatal) {
			continue // the same failure, already in runErr
		}
		runErr = errors.Join(runErr, err)
	}
	if err := g.closeParts(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	g.log.Info("stopped")
	return runErr
}

func (g *Gateway) closeParts() error {
	var err error
	if g.stopACME != nil {
		g.stopACME()
	}
	if g.Health != nil {
		g.Health.Close()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	// Shutdown already waited for the sends in flight: no grace needed.
	for r := range g.retiring {
		r.timer.Stop()
		err = errors.Join(err, r.ch.Close())
	}
	clear(g.retiring)
	for _, ch := range g.chans {
		if c, ok := ch.(channels.Closer); ok {
			err = errors.Join(err, c.Close())
		}
	}
	clear(g.chans)
	if g.Store != nil {
		err = errors.Join(err, g.Store.Close())
		g.Store = nil
	}
	return err
}
