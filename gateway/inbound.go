package gateway

import (
	"log/slog"

	"github.com/switchboard-gw/switchboard/inbound"
)

// inboundHandler builds what takes the messages people send (package
// inbound): stored in the store, called back to inbound.callback_url of
// the config in force through the callback outbox.
func (g *Gateway) inboundHandler(log *slog.Logger, callbackDue func()) *inbound.Handler {
	h := &inbound.Handler{
		Store:       g.Store,
		CallbackURL: func() string { return g.cfg.Load().Inbound.CallbackURL },
		CallbackDue: callbackDue,
		Logger:      log.With("component", "inbound"),
		Obs:         g.Metrics,
	}
	// MERGE: the suppression list's Suppress/Unsuppress are store.Store
	// methods on the opt-out branch; once merged, set
	// h.Suppressor = g.Store directly and drop this assertion.
	if sup, ok := g.Store.(inbound.Suppressor); ok {
		h.Suppressor = sup
	}
	return h
}
