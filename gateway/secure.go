package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/switchboard-gw/switchboard/config"
)

// warnKeyDefaults logs every API key whose value a ${VAR:-default} default
// supplied: the operator may believe VAR set it. Never the value.
func (g *Gateway) warnKeyDefaults(cfg *config.Config) {
	for _, d := range cfg.KeyEnvDefaults() {
		g.log.Warn("an API key comes from its ${VAR:-default} default: the environment variable is unset or empty",
			"key", d.Name, "var", d.Var, "config", cfg.Path)
	}
}

// checkPublishedKeys refuses cfg when it uses one of the example config's
// published development keys and the gateway listens on addr, reachable by
// other machines; Options.Dev allows it, with a WARN.
func (g *Gateway) checkPublishedKeys(cfg *config.Config, addr string) error {
	err := cfg.CheckPublishedKeysOn(addr)
	if err == nil {
		return nil
	}
	if !g.opts.Dev {
		return err
	}
	var es config.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			g.log.Warn("--dev: serving a published development API key on an address other machines can reach; never do this outside a demo",
				"listen", addr, "key_path", e.Key)
		}
	}
	return nil
}

// serveMetrics serves GET /metrics on ln until ctx is done, then shuts the
// server down. Plain HTTP: metrics_listen is meant for an internal address.
func (g *Gateway) serveMetrics(ctx context.Context, ln net.Listener, h http.Handler) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          serverErrorLog(g.log.Handler()),
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	g.log.Info("metrics serving", "addr", ln.Addr().String(), "path", "/metrics")
	err := srv.Serve(ln)
	<-stopped
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("metrics server: %w", err)
}
