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
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard-gw/switchboard/api"
	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/health"
	"github.com/switchboard-gw/switchboard/metrics"
	"github.com/switchboard-gw/switchboard/routing"
	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/sqlite"

	// Channel types register themselves.
	_ "github.com/switchboard-gw/switchboard/channels/all"
)

// Gateway is one running Switchboard process.
type Gateway struct {
	Config     *config.Config
	Store      store.Store
	Health     *health.Monitor
	Dispatcher *routing.Dispatcher
	API        *api.Server
	Channels   []channels.Channel
	Metrics    *metrics.Metrics

	log *slog.Logger
}

// Options configures New.
type Options struct {
	Logger *slog.Logger
	// Store, if set, is used instead of opening the configured one.
	Store store.Store
}

// New builds a gateway from cfg. Nothing runs until Run.
func New(ctx context.Context, cfg *config.Config, o Options) (*Gateway, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	g := &Gateway{Config: cfg, log: log, Store: o.Store}
	if g.Store == nil {
		st, err := OpenStore(ctx, cfg.Store)
		if err != nil {
			return nil, err
		}
		g.Store = st
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
	receipts := &routing.Receipts{Store: g.Store, Logger: log, Observer: g.Metrics}
	g.Health = health.New(log)
	g.Health.OnProbe(g.Metrics.Probe)
	var lanes []*routing.Lane
	for _, cc := range cfg.Channels {
		ch, err := channels.Build(cc, channels.Deps{Logger: log.With("channel", cc.Name), Receipts: receipts, PublicURL: cfg.Server.PublicURL})
		if err != nil {
			return nil, err
		}
		g.Channels = append(g.Channels, ch)
		lanes = append(lanes, routing.NewLane(ch, cc, log))
	}
	router, err := routing.NewRouter(cfg.Policies, lanes, g.Health)
	if err != nil {
		return nil, err
	}
	g.Dispatcher = routing.NewDispatcher(g.Store, router, cfg.Dispatch, routing.DispatcherOptions{Owner: owner, Logger: log, Observer: g.Metrics})
	receipts.Wake = g.Dispatcher.Wake
	g.Metrics.WatchChannels(channelStates{g})
	g.Metrics.WatchQueue(g.Store)
	g.Metrics.Reload(true, time.Now())
	g.API = api.New(api.Deps{
		Config: cfg, Store: g.Store, Dispatch: g.Dispatcher, Health: g.Health, Receipts: receipts, Logger: log,
		Metrics:  promhttp.HandlerFor(g.Metrics.Registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}),
		Accepted: g.Metrics.Accepted,
	})
	ok = true
	return g, nil
}

// channelStates reports each channel's breaker and health for metrics.
type channelStates struct{ g *Gateway }

func (c channelStates) Channels() []metrics.ChannelState {
	lanes := c.g.Dispatcher.Router().Lanes()
	out := make([]metrics.ChannelState, 0, len(lanes))
	for _, l := range lanes {
		st := metrics.ChannelState{Name: l.Name, Breaker: l.BreakerState(), Health: string(health.Healthy)}
		if hs, ok := c.g.Health.Status(l.Name); ok {
			st.Health = string(hs.State)
		}
		out = append(out, st)
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
		if dir := filepath.Dir(dsn); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("create store directory: %w", err)
			}
		}
		st, err := sqlite.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite store %s: %w", dsn, err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("store driver %q is not supported", cfg.Driver)
}

// Run serves HTTP on ln and dispatches messages until ctx is done, then
// shuts down gracefully: stop accepting requests, finish the requests and
// sends in flight, release leases, close channels and the store.
func (g *Gateway) Run(ctx context.Context, ln net.Listener) error {
	for i, ch := range g.Channels {
		g.Health.Add(ch.Name(), ch, g.Config.Channels[i].Probe)
	}
	srv := &http.Server{
		Handler:           g.API,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	dctx, stopDispatch := context.WithCancel(context.Background())
	defer stopDispatch()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := g.Dispatcher.Run(dctx); err != nil {
			errc <- fmt.Errorf("dispatcher: %w", err)
		}
	}()
	g.log.Info("switchboard serving", "addr", ln.Addr().String(), "config", g.Config.Path, "summary", g.Config.Summary())

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	g.log.Info("shutting down")
	timeout := g.Config.Server.ShutdownTimeout.D()
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Stop taking requests first: every 202 already written is on disk.
	if err := srv.Shutdown(sctx); err != nil {
		g.log.Warn("http shutdown", "err", err)
	}
	stopDispatch()
	wg.Wait()
	close(errc)
	for err := range errc {
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
	if g.Health != nil {
		g.Health.Close()
	}
	for _, ch := range g.Channels {
		if c, ok := ch.(channels.Closer); ok {
			err = errors.Join(err, c.Close())
		}
	}
	g.Channels = nil
	if g.Store != nil {
		err = errors.Join(err, g.Store.Close())
		g.Store = nil
	}
	return err
}
