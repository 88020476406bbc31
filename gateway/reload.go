package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-gw/switchboard/callbacks"
	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/routing"
	"github.com/switchboard-gw/switchboard/store"
)

// ErrNoConfigFile: the gateway was started without a config file (the
// embedded example), so there is nothing to reload.
var ErrNoConfigFile = errors.New("reload: the gateway runs a config with no file; start it with --config FILE")

// retireMargin is added to a retired channel's send_timeout before it is
// closed: a worker may pick the old lane just before the swap and start its
// send a moment after.
const retireMargin = time.Second

// retiree is a channel instance that a reload replaced or removed; it is
// closed when its grace period ends or at shutdown, whichever comes first.
type retiree struct {
	ch    channels.Closer
	timer *time.Timer
}

// Reload re-reads the config file and puts it in force, or changes nothing.
// SIGHUP, a change to the file and POST /-/reload all come here, one at a
// time, like Alertmanager's coordinator and Caddy's config swap:
//
//  1. Load and validate the file, and build every added or changed
//     channel, before touching anything. Changes a running gateway cannot
//     apply (server.listen, store, dispatch) are refused.
//  2. Build the new lanes: an unchanged channel keeps its *Lane (provider
//     client, breaker, rate limiter) and its health state; a changed one
//     gets a new lane, and the health monitor keeps its state and any ops
//     override.
//  3. Swap the router (atomically: a message in flight finishes with the
//     router it started with), the API's keys and config, the callback
//     signing secrets and the callback address policy
//     (callbacks.allow_private_networks, callbacks.allow_hosts).
//  4. Removed and replaced channels are closed after their send_timeout,
//     so sends in flight on them finish.
//
// Messages keep the route stored with them; a step that names a removed
// channel is skipped as "unknown_channel" and the message moves on.
//
// On failure the old config keeps running, the reload metric drops to 0
// and the error (config.Errors, located by file:line:key, when the file is
// at fault) is logged and returned.
func (g *Gateway) Reload(ctx context.Context) (config.Diff, error) {
	return g.reload(ctx, reloadOps)
}

// reloadCause is why reload runs.
type reloadCause int

const (
	// reloadOps: SIGHUP, a file change or POST /-/reload. The other
	// instances sharing the store are told.
	reloadOps reloadCause = iota
	// reloadPeer answers another instance's broadcast: not told again.
	reloadPeer
	// reloadStart re-reads the file once the store's reload generation is
	// known (watchPeerReloads); quiet when nothing changed.
	reloadStart
)

// reload is Reload, for cause.
func (g *Gateway) reload(ctx context.Context, cause reloadCause) (config.Diff, error) {
	path := g.opts.ConfigFile
	if path == "" {
		return config.Diff{}, ErrNoConfigFile
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return config.Diff{}, errors.New("reload: the gateway is shutting down")
	}
	cfg, diff, err := g.reloadLocked(ctx, path)
	now := time.Now()
	if err != nil {
		g.Metrics.Reload(false, now)
		g.log.Error("config reload failed; the previous config keeps running", "config", path, "err", err.Error())
		return diff, err
	}
	g.Metrics.Reload(true, now)
	if cause != reloadStart { // New warned already
		g.warnKeyDefaults(cfg)
	}
	switch {
	case diff.Empty() && cause == reloadStart:
		g.log.Debug("config file read again at start: no changes", "config", path)
	case diff.Empty():
		g.log.Info("config reloaded: no changes", "config", path)
	default:
		g.log.Info("config reloaded", "config", path, "changes", diff.String(), "summary", cfg.Summary())
	}
	if rb, ok := g.Store.(store.ReloadBroadcaster); ok && cause == reloadOps {
		// Best effort: the reload here has happened either way.
		if err := rb.BroadcastReload(ctx, g.Dispatcher.Owner()); err != nil {
			g.log.Warn("could not tell the other instances to reload", "err", err)
		}
	}
	return diff, nil
}

// watchPeerReloads reloads this instance's config file whenever another
// instance sharing the store reloaded its own, until ctx is done. The store
// catches up on broadcasts this instance did not hear (it was starting, or
// its connection was down), from the generation current when it opened.
//
// That generation was read after the caller loaded the config file (the
// store's DSN is in it), so a broadcast in between would count as applied
// when it was not: the file is read once more here, after the store opened,
// and that read is the one the generation precedes. Nothing changes, and
// nothing is logged above DEBUG, when the file did not change.
func (g *Gateway) watchPeerReloads(ctx context.Context, rb store.ReloadBroadcaster) {
	if g.opts.ConfigFile != "" {
		_, _ = g.reload(ctx, reloadStart) // reload logs the outcome
	}
	for {
		select {
		case <-ctx.Done():
			return
		case origin := <-rb.ReloadRequested():
			if origin == g.Dispatcher.Owner() || g.opts.ConfigFile == "" {
				continue
			}
			g.log.Info("another instance reloaded its config; reloading", "origin", origin)
			_, _ = g.reload(ctx, reloadPeer) // reload logs the outcome
		}
	}
}

func (g *Gateway) reloadLocked(ctx context.Context, path string) (*config.Config, config.Diff, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, config.Diff{}, asConfigErrors(err, path)
	}
	if g.opts.Adjust != nil {
		g.opts.Adjust(cfg)
	}
	old := g.Config()
	diff := config.Compare(old, cfg)
	if restart := diff.NeedsRestart(); len(restart) > 0 {
		var errs config.Errors
		for _, c := range restart {
			what := "changed"
			if c.Note == "" { // values hidden (a DSN may hold a password) when Note is set
				what = fmt.Sprintf("changed from %s to %s", c.Old, c.New)
			}
			errs = append(errs, &config.Error{File: cfg.Path, Line: cfg.Line(c.Key), Key: c.Key,
				Msg: what + ": a running gateway cannot apply this; restart it, or revert this change to reload the rest"})
		}
		return nil, diff, errs
	}
	listen := g.listen // the address bound; "" before Run
	if listen == "" {
		listen = cfg.Server.Listen
	}
	if err := g.checkPublishedKeys(cfg, listen); err != nil {
		return nil, diff, asConfigErrors(err, path)
	}
	// The certificate files are read on every reload, changed or not: a
	// renewal is picked up by a reload as well as by the next handshake.
	var (
		cert      *tls.Certificate
		certStamp pairStamp
	)
	if g.certs != nil {
		var err error
		if cert, certStamp, err = loadPair(cfg.Server.TLS); err != nil {
			return nil, diff, tlsConfigError(cfg, err)
		}
	}

	// Build what is new before touching anything: a bad option in one
	// channel must leave every channel as it was.
	oldRouter := g.Dispatcher.Router()
	built := map[string]channels.Channel{}
	closeBuilt := func() {
		for _, ch := range built {
			if c, ok := ch.(channels.Closer); ok {
				_ = c.Close()
			}
		}
	}
	var errs config.Errors
	for _, cc := range cfg.Channels {
		// Only what is new or changed is built: an unchanged channel's
		// config already built once, and it keeps its running instance.
		if oldRouter.Lane(cc.Name) != nil && !diff.ChannelChanged(cc.Name) {
			continue
		}
		ch, err := channels.Build(cc, g.channelDeps(cfg, cc))
		if err != nil {
			errs = append(errs, asConfigErrors(err, path)...)
			continue
		}
		built[cc.Name] = ch
	}
	if len(errs) > 0 {
		closeBuilt()
		return nil, diff, errs
	}
	lanes := make([]*routing.Lane, 0, len(cfg.Channels))
	for _, cc := range cfg.Channels {
		if ch, ok := built[cc.Name]; ok {
			lanes = append(lanes, routing.NewLane(ch, cc, g.log))
		} else {
			lanes = append(lanes, oldRouter.Lane(cc.Name))
		}
	}
	router, err := routing.NewRouter(cfg.Policies, lanes, g.Health)
	var cbPolicy *callbacks.AddressPolicy
	if err == nil {
		cbPolicy, err = callbacks.NewAddressPolicy(cfg.Callbacks)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		closeBuilt()
		return nil, diff, err
	}

	// Nothing below can fail: commit.
	if g.started {
		// Before the swap, so a new channel is probed (and a changed one
		// keeps its state and override) by the time messages reach it.
		for name, ch := range built {
			g.Health.Add(name, ch, cfg.Channel(name).Probe)
		}
	}
	g.Dispatcher.SetRouter(router)
	g.API.SetConfig(cfg)
	g.setCallbackSecrets(cfg)
	g.Callbacks.SetPolicy(cbPolicy)
	g.Retention.SetKeep(cfg.Store.Retention.D())
	if cert != nil {
		g.certs.install(cfg.Server.TLS, cert, certStamp)
	}
	g.cfg.Store(cfg)
	g.applyLogLevel(cfg)
	for _, name := range diff.ChannelsRemoved {
		if g.started {
			g.Health.Remove(name)
		}
		g.retire(g.chans[name], oldRouter.Lane(name).Config)
		delete(g.chans, name)
	}
	for name, ch := range built {
		if prev := g.chans[name]; prev != nil {
			g.retire(prev, oldRouter.Lane(name).Config)
		}
		g.chans[name] = ch
	}
	return cfg, diff, nil
}

// applyLogLevel puts cfg's log.level in force (validation has checked it).
func (g *Gateway) applyLogLevel(cfg *config.Config) {
	lv, err := config.ParseLogLevel(cfg.Log.Level)
	if g.opts.LogLevel == nil || err != nil || g.opts.LogLevel.Level() == lv {
		return
	}
	from := g.opts.LogLevel.Level()
	g.opts.LogLevel.Set(lv)
	// At WARN, so the change shows whichever the old and new levels are.
	g.log.Warn("log level changed", "from", from.String(), "to", lv.String())
}

// retire closes ch once sends that may be in flight on it are done: its
// send_timeout bounds each one. Called with g.mu held.
func (g *Gateway) retire(ch channels.Channel, cc *config.Channel) {
	c, ok := ch.(channels.Closer)
	if !ok {
		return
	}
	grace := cc.SendTimeout.D()
	if grace <= 0 {
		grace = 10 * time.Second
	}
	r := &retiree{ch: c}
	g.retiring[r] = struct{}{}
	r.timer = time.AfterFunc(grace+retireMargin, func() {
		g.mu.Lock()
		_, pending := g.retiring[r]
		delete(g.retiring, r)
		g.mu.Unlock()
		if !pending {
			return // shutdown closed it already
		}
		if err := c.Close(); err != nil {
			g.log.Warn("close retired channel", "channel", cc.Name, "err", err)
		}
	})
}

// asConfigErrors makes err a config.Errors, so every reload failure the
// operator can fix answers 422 with its location: a file that cannot be
// read is located at the file.
func asConfigErrors(err error, path string) config.Errors {
	var es config.Errors
	if errors.As(err, &es) {
		return es
	}
	var e *config.Error
	if errors.As(err, &e) {
		return config.Errors{e}
	}
	return config.Errors{{File: path, Msg: err.Error()}}
}
