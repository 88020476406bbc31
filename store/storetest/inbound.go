package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// RunInbound runs the inbound message suite (store.InboundStore, part of
// store.Store).
func RunInbound(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"SaveAndCallback", testInboundSaveAndCallback},
		{"Duplicate", testInboundDuplicate},
		{"ReplyTo", testInboundReplyTo},
		{"ListFiltersAndPaging", testInboundList},
		{"Invalid", testInboundInvalid},
		{"Purge", testInboundPurge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, setup(t, open))
		})
	}
}

func inboundMsg(from, text, providerID string, at time.Time) *store.InboundMessage {
	return &store.InboundMessage{Channel: "sms", Kind: "sms", From: from, To: "+15550006",
		Text: text, ProviderID: providerID, ReceivedAt: at}
}

func (e *env) saveInbound(m *store.InboundMessage, url string) (*store.InboundMessage, bool) {
	e.t.Helper()
	got, dup, err := e.s.SaveInbound(e.ctx, m, url)
	require.NoError(e.t, err)
	return got, dup
}

func testInboundSaveAndCallback(t *testing.T, e *env) {
	in := inboundMsg("+15551234567", "Yes please", "SM1", t0)
	got, dup := e.saveInbound(in, "https://app.example.com/inbound")
	require.False(t, dup)
	require.NotEmpty(t, got.ID)
	require.Empty(t, got.ReplyTo)
	require.Equal(t, t0, got.ReceivedAt)

	// Its callback is in the outbox, claimed and finished like a status
	// callback, with the inbound message's id and the inbound scope.
	cbs, err := e.s.ClaimCallbacks(e.ctx, "sender", time.Minute, 10, t0.Add(time.Second))
	require.NoError(t, err)
	require.Len(t, cbs, 1)
	cb := cbs[0]
	require.Equal(t, got.ID, cb.MessageID)
	require.Equal(t, store.InboundCallbackScope, cb.Scope)
	require.Equal(t, "https://app.example.com/inbound", cb.URL)
	var p store.InboundPayload
	require.NoError(t, json.Unmarshal(cb.Payload, &p))
	require.Equal(t, store.InboundPayloadOf(got), p)
	require.Equal(t, "inbound", p.Type)
	require.NoError(t, e.s.FinishCallback(e.ctx, store.CallbackResult{ID: cb.ID, Owner: "sender", Status: store.CallbackPending,
		NextAt: t0.Add(time.Minute), Error: "HTTP 500", Now: t0.Add(time.Second)}))
	cbs, err = e.s.ClaimCallbacks(e.ctx, "sender", time.Minute, 10, t0.Add(2*time.Minute))
	require.NoError(t, err)
	require.Len(t, cbs, 1, "a failed try is retried")
	require.NoError(t, e.s.FinishCallback(e.ctx, store.CallbackResult{ID: cbs[0].ID, Owner: "sender", Status: store.CallbackDelivered, Now: t0.Add(2 * time.Minute)}))

	// Without a callback URL nothing is queued.
	e.saveInbound(inboundMsg("+15551234567", "again", "SM2", t0.Add(time.Second)), "")
	cbs, err = e.s.ClaimCallbacks(e.ctx, "sender", time.Minute, 10, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Empty(t, cbs)

	// Status callbacks of messages still flow beside inbound ones.
	m := e.enqueue(withCallback)
	e.send(m.ID, t0, "whatsapp")
	cbs, err = e.s.ClaimCallbacks(e.ctx, "sender", time.Minute, 10, t0.Add(time.Hour))
	require.NoError(t, err)
	require.NotEmpty(t, cbs)
	require.Equal(t, m.ID, cbs[0].MessageID)
}

func testInboundDuplicate(t *testing.T, e *env) {
	first, _ := e.saveInbound(inboundMsg("+15551234567", "STOP", "SM9", t0), "https://app.example.com/inbound")
	again, dup := e.saveInbound(inboundMsg("+15551234567", "STOP", "SM9", t0.Add(time.Minute)), "https://app.example.com/inbound")
	require.True(t, dup, "a provider's retry of the same message")
	require.Equal(t, first, again)
	other := inboundMsg("+15551234567", "STOP", "SM9", t0)
	other.Channel = "sms-backup"
	_, dup = e.saveInbound(other, "")
	require.False(t, dup, "the same provider id on another channel is another message")
	// Messages without a provider id are never duplicates.
	e.saveInbound(inboundMsg("+15551234567", "hi", "", t0), "")
	_, dup = e.saveInbound(inboundMsg("+15551234567", "hi", "", t0), "")
	require.False(t, dup)

	cbs, err := e.s.ClaimCallbacks(e.ctx, "sender", time.Minute, 10, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, cbs, 1, "a duplicate queues no second callback")
	res, err := e.s.ListInbound(e.ctx, store.InboundListParams{})
	require.NoError(t, err)
	require.Len(t, res.Messages, 4)
}

func testInboundReplyTo(t *testing.T, e *env) {
	m := e.enqueue()
	e.send(m.ID, t0, "sms")
	in := inboundMsg("+15551234567", "thanks", "SMr", t0.Add(time.Minute))
	in.ReplyToProviderID = providerID(m.ID, "sms", 1)
	got, _ := e.saveInbound(in, "")
	require.Equal(t, m.ID, got.ReplyTo, "resolved through the attempt's (channel, provider id)")
	require.Equal(t, in.ReplyToProviderID, got.ReplyToProviderID)

	// The same provider id on another channel is not that attempt.
	other := inboundMsg("+15551234567", "thanks", "SMs", t0.Add(time.Minute))
	other.Channel, other.ReplyToProviderID = "whatsapp", providerID(m.ID, "sms", 1)
	got, _ = e.saveInbound(other, "")
	require.Empty(t, got.ReplyTo)

	res, err := e.s.ListInbound(e.ctx, store.InboundListParams{Channel: "sms"})
	require.NoError(t, err)
	require.Len(t, res.Messages, 1)
	require.Equal(t, m.ID, res.Messages[0].ReplyTo)
}

func testInboundList(t *testing.T, e *env) {
	var saved []*store.InboundMessage
	for i, from := range []string{"+15551230001", "+15551230002", "+15551230001", "+15551230001", "+15551230002"} {
		m, _ := e.saveInbound(inboundMsg(from, "m", "", t0.Add(time.Duration(i)*time.Minute)), "")
		saved = append(saved, m)
	}
	tg := &store.InboundMessage{Channel: "tg", Kind: "telegram", From: "42", Text: "hello", ProviderID: "42:7", ReceivedAt: t0.Add(10 * time.Minute)}
	tgSaved, _ := e.saveInbound(tg, "")

	list := func(p store.InboundListParams) []string {
		t.Helper()
		var out []string
		for range 10 {
			res, err := e.s.ListInbound(e.ctx, p)
			require.NoError(t, err)
			for _, m := range res.Messages {
				out = append(out, m.ID)
			}
			if res.NextCursor == "" {
				return out
			}
			p.Cursor = res.NextCursor
		}
		t.Fatal("paging did not end")
		return nil
	}
	idsOf := func(is ...int) []string {
		var out []string
		for _, i := range is {
			out = append(out, saved[i].ID)
		}
		return out
	}
	require.Equal(t, append([]string{tgSaved.ID}, idsOf(4, 3, 2, 1, 0)...), list(store.InboundListParams{}), "newest first")
	require.Equal(t, append([]string{tgSaved.ID}, idsOf(4, 3, 2, 1, 0)...), list(store.InboundListParams{Limit: 2}), "the same, two a page")
	require.Equal(t, idsOf(4, 3, 2, 1, 0), list(store.InboundListParams{Channel: "sms", Limit: 2}))
	require.Equal(t, []string{tgSaved.ID}, list(store.InboundListParams{Channel: "tg"}))
	require.Equal(t, idsOf(3, 2, 0), list(store.InboundListParams{From: "+15551230001", Limit: 1}))
	require.Equal(t, idsOf(4, 3), list(store.InboundListParams{Channel: "sms", Since: t0.Add(3 * time.Minute)}))

	res, err := e.s.ListInbound(e.ctx, store.InboundListParams{Limit: 1})
	require.NoError(t, err)
	require.Equal(t, tg.Text, res.Messages[0].Text)
	require.Equal(t, "telegram", res.Messages[0].Kind)
	require.Equal(t, "42:7", res.Messages[0].ProviderID)

	_, err = e.s.ListInbound(e.ctx, store.InboundListParams{Cursor: "%%%"})
	require.ErrorIs(t, err, store.ErrInvalidCursor)
}

func testInboundInvalid(t *testing.T, e *env) {
	_, _, err := e.s.SaveInbound(e.ctx, &store.InboundMessage{Channel: "sms", Kind: "sms"}, "")
	require.Error(t, err, "an inbound message has a sender")
}

// testInboundPurge: retention deletes old inbound messages, oldest first in
// batches, but keeps new ones and old ones whose callback is still pending.
func testInboundPurge(t *testing.T, e *env) {
	old := t0.Add(-48 * time.Hour)
	save := func(at time.Time, provider, url string) *store.InboundMessage {
		m := inboundMsg("+15551234567", "hi", provider, at)
		m.ID = IDAt(at)
		got, _ := e.saveInbound(m, url)
		return got
	}
	gone1 := save(old, "SM1", "")
	gone2 := save(old.Add(time.Minute), "SM2", "")
	pending := save(old.Add(2*time.Minute), "SM3", "https://app.example.com/inbound")
	fresh := save(t0, "SM4", "")

	n, err := e.s.PurgeInbound(e.ctx, t0.Add(-time.Hour), 1)
	require.NoError(t, err)
	require.Equal(t, 1, n, "a batch of one")
	n, err = e.s.PurgeInbound(e.ctx, t0.Add(-time.Hour), 10)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the other old one; the one with a pending callback stays")

	left, err := e.s.ListInbound(e.ctx, store.InboundListParams{Limit: 10})
	require.NoError(t, err)
	var ids []string
	for _, m := range left.Messages {
		ids = append(ids, m.ID)
	}
	require.ElementsMatch(t, []string{pending.ID, fresh.ID}, ids)
	require.NotContains(t, ids, gone1.ID)
	require.NotContains(t, ids, gone2.ID)

	// Once its callback is done, it goes too, and its callback with it.
	cbs, err := e.s.ClaimCallbacks(e.ctx, "sender", time.Minute, 10, t0)
	require.NoError(t, err)
	require.Len(t, cbs, 1)
	require.NoError(t, e.s.FinishCallback(e.ctx, store.CallbackResult{ID: cbs[0].ID, Owner: "sender", Status: store.CallbackDelivered, Now: t0}))
	n, err = e.s.PurgeInbound(e.ctx, t0.Add(-time.Hour), 10)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = e.s.PurgeInbound(e.ctx, t0.Add(-time.Hour), 10)
	require.NoError(t, err)
	require.Zero(t, n, "nothing old is left")
}
