package ui

import (
	"context"
	"slices"

	"github.com/switchboard-gw/switchboard/store"
)

// optOuts lists the recipient's entries on the opt-out list, every kind
// of each of their addresses (a number may have left SMS but not
// WhatsApp), for the message page. A failed read is logged and shows
// nothing: the page is still worth seeing.
func (s *dash) optOuts(ctx context.Context, to store.Recipient) []store.Suppression {
	var addrs []string
	for _, k := range to.SuppressionKeys() {
		if !slices.Contains(addrs, k.Address) {
			addrs = append(addrs, k.Address)
		}
	}
	var out []store.Suppression
	for _, a := range addrs {
		page, err := s.b.Store().ListSuppressions(ctx, store.SuppressionListParams{Address: a, Limit: 10})
		if err != nil {
			s.log.Warn("dashboard: list the recipient's opt-outs", "err", err)
			return nil
		}
		out = append(out, page.Suppressions...)
	}
	return out
}
