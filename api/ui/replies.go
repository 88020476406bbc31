package ui

import (
	"context"
	"slices"
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

// maxReplies bounds the replies a message page shows.
const maxReplies = 10

// uiReply is one inbound message from the recipient, on the message page.
type uiReply struct {
	At      time.Time
	Channel string // the channel's label
	From    string
	Text    string
	// ToThis: the provider said it answers this message (its reply-to is
	// one of this message's attempts).
	ToThis bool
}

// replies lists what the recipient sent to the gateway's channels since
// the message was accepted (a reply, a STOP), newest first, from each of
// their addresses an inbound channel can hear from (phone, WhatsApp,
// Telegram). A failed read is logged and shows nothing: the page is still
// worth seeing.
func (s *dash) replies(ctx context.Context, m *store.Message) []uiReply {
	var addrs []string
	for _, a := range []string{m.To.Phone, m.To.WhatsApp, m.To.Telegram} {
		if a != "" && !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	var out []uiReply
	for _, a := range addrs {
		page, err := s.b.Store().ListInbound(ctx, store.InboundListParams{From: a, Since: m.CreatedAt, Limit: maxReplies})
		if err != nil {
			s.log.Warn("dashboard: list the recipient's replies", "err", err)
			return nil
		}
		for _, in := range page.Messages {
			out = append(out, uiReply{At: in.ReceivedAt, Channel: s.channelLabel(in.Channel), From: in.From, Text: in.Text, ToThis: in.ReplyTo == m.ID})
		}
	}
	slices.SortStableFunc(out, func(a, b uiReply) int { return b.At.Compare(a.At) })
	return out[:min(len(out), maxReplies)]
}
