package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard-gw/switchboard/health"
	"github.com/switchboard-gw/switchboard/store"
)

// overridePoll bounds how stale another instance's override can be here
// when its change notification is lost.
const overridePoll = 5 * time.Second

// syncOverrides applies the store's ops overrides to the health monitor:
// at start (a disabled channel stays disabled across a restart) and, with
// several instances, whenever another one changes them.
func (g *Gateway) syncOverrides(ctx context.Context, ovs store.OverrideStore) {
	list, err := ovs.Overrides(ctx)
	if err != nil {
		g.log.Warn("read channel overrides", "err", err)
		return
	}
	for _, o := range list {
		st, ok := g.Health.Status(o.Channel)
		if !ok {
			continue // not a channel of this config
		}
		switch {
		case o.Disabled && (st.State != health.Disabled || st.DisabledReason != overrideReason(o) || st.DisabledBy != o.By):
			// Who and when come from the row: GET /v1/channels shows them
			// the same on every instance and across restarts.
			if err := g.Health.DisableBy(o.Channel, overrideReason(o), o.By, o.At); err == nil {
				g.log.Info("channel override applied", "channel", o.Channel, "disabled", true, "by", o.By)
			}
		case !o.Disabled && st.State == health.Disabled:
			if err := g.Health.Enable(o.Channel); err == nil {
				g.log.Info("channel override applied", "channel", o.Channel, "disabled", false, "by", o.By)
			}
		}
	}
}

// overrideReason is the reason shown for a stored override. The API stores
// the reason ops gave; the key name is kept in the row and the log.
func overrideReason(o store.Override) string {
	if o.Reason == "" {
		return fmt.Sprintf("disabled by %s", o.By)
	}
	return o.Reason
}

// watchOverrides re-applies overrides on each change signal and every
// overridePoll until ctx is done.
func (g *Gateway) watchOverrides(ctx context.Context, ovs store.OverrideStore) {
	t := time.NewTicker(overridePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ovs.OverridesChanged():
		case <-t.C:
		}
		g.syncOverrides(ctx, ovs)
	}
}
