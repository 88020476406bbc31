package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// testSuppressions covers the opt-out list (store.SuppressionStore): the
// upsert, the lookup a dispatcher makes for a message (by address and
// kind), removal, and paging.
func testSuppressions(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	ana := store.Recipient{Phone: "+15550100001", WhatsApp: "+15550100001", Email: "Ana@Example.com", Telegram: "4242"}

	got, err := s.SuppressionsFor(ctx, ana)
	require.NoError(t, err)
	require.Empty(t, got, "an empty list stops nothing")

	at := t0.Add(time.Minute)
	require.NoError(t, s.Suppress(ctx, store.Suppression{Address: "+15550100001", Kind: "sms", Reason: "STOP", Source: store.SourceInbound, CreatedAt: at}))
	got, err = s.SuppressionsFor(ctx, ana)
	require.NoError(t, err)
	require.Equal(t, []store.Suppression{{Address: "+15550100001", Kind: "sms", Reason: "STOP", Source: store.SourceInbound, CreatedAt: at}}, got,
		"the phone is suppressed on sms only, not on whatsapp although the number is the same")
	got, err = s.SuppressionsFor(ctx, store.Recipient{WhatsApp: "+15550100001"})
	require.NoError(t, err)
	require.Empty(t, got, "an sms opt-out does not stop whatsapp")

	// Upsert: the newest reason, source and time win; addresses are
	// normalised (Twilio's whatsapp: prefix, an email's case).
	require.NoError(t, s.Suppress(ctx, store.Suppression{Address: "+15550100001", Kind: "sms", Reason: "21610", Source: store.SourceProvider, CreatedAt: at.Add(time.Hour)}))
	require.NoError(t, s.Suppress(ctx, store.Suppression{Address: "whatsapp:+15550100001", Kind: "whatsapp", Reason: "STOP", Source: store.SourceInbound, CreatedAt: at}))
	before := time.Now().Add(-time.Second)
	require.NoError(t, s.Suppress(ctx, store.Suppression{Address: "ANA@example.COM", Kind: "email", Reason: "asked by phone", Source: store.SourceAPI}))
	got, err = s.SuppressionsFor(ctx, ana)
	require.NoError(t, err)
	require.Len(t, got, 3)
	byKind := map[string]store.Suppression{}
	for _, g := range got {
		byKind[g.Kind] = g
	}
	require.Equal(t, store.Suppression{Address: "+15550100001", Kind: "sms", Reason: "21610", Source: store.SourceProvider, CreatedAt: at.Add(time.Hour)}, byKind["sms"])
	require.Equal(t, "+15550100001", byKind["whatsapp"].Address)
	require.Equal(t, "ana@example.com", byKind["email"].Address)
	require.True(t, byKind["email"].CreatedAt.After(before), "a zero CreatedAt is now, got %v", byKind["email"].CreatedAt)

	// Other recipients are not stopped.
	got, err = s.SuppressionsFor(ctx, store.Recipient{Phone: "+15550100002", Email: "bo@example.com"})
	require.NoError(t, err)
	require.Empty(t, got)

	removed, err := s.Unsuppress(ctx, "+15550100001", "sms")
	require.NoError(t, err)
	require.True(t, removed)
	removed, err = s.Unsuppress(ctx, "+15550100001", "sms")
	require.NoError(t, err)
	require.False(t, removed, "nothing left to remove")
	got, err = s.SuppressionsFor(ctx, store.Recipient{Phone: "+15550100001", WhatsApp: "+15550100001"})
	require.NoError(t, err)
	require.Len(t, got, 1, "the whatsapp entry of the same address stays")
	require.Equal(t, "whatsapp", got[0].Kind)
	removed, err = s.Unsuppress(ctx, "whatsapp:+15550100001", "whatsapp")
	require.NoError(t, err)
	require.True(t, removed)
	got, err = s.SuppressionsFor(ctx, ana)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "email", got[0].Kind)

	require.Error(t, s.Suppress(ctx, store.Suppression{Kind: "sms", Source: store.SourceAPI}), "an entry names its address")
}

func testSuppressionPaging(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	addrs := []string{"+15550100003", "+15550100001", "+15550100002"}
	for i, a := range addrs {
		for _, kind := range []string{"whatsapp", "sms"} {
			require.NoError(t, s.Suppress(ctx, store.Suppression{Address: a, Kind: kind, Source: store.SourceAPI, CreatedAt: t0.Add(time.Duration(i) * time.Second)}))
		}
	}
	var seen []string
	p := store.SuppressionListParams{Limit: 4}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5, "paging does not end")
		page, err := s.ListSuppressions(ctx, p)
		require.NoError(t, err)
		for _, e := range page.Suppressions {
			seen = append(seen, e.Address+"/"+e.Kind)
		}
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	require.Equal(t, []string{
		"+15550100001/sms", "+15550100001/whatsapp", "+15550100002/sms",
		"+15550100002/whatsapp", "+15550100003/sms", "+15550100003/whatsapp",
	}, seen, "every entry once, in (address, kind) order")

	page, err := s.ListSuppressions(ctx, store.SuppressionListParams{Kind: "whatsapp"})
	require.NoError(t, err)
	require.Len(t, page.Suppressions, 3)
	require.Empty(t, page.NextCursor)
	page, err = s.ListSuppressions(ctx, store.SuppressionListParams{Address: "+15550100002"})
	require.NoError(t, err)
	require.Len(t, page.Suppressions, 2)
	page, err = s.ListSuppressions(ctx, store.SuppressionListParams{Address: "+15550100002", Kind: "sms"})
	require.NoError(t, err)
	require.Len(t, page.Suppressions, 1)
	require.Equal(t, t0.Add(2*time.Second), page.Suppressions[0].CreatedAt)

	_, err = s.ListSuppressions(ctx, store.SuppressionListParams{Cursor: "not a cursor!"})
	require.ErrorIs(t, err, store.ErrInvalidCursor)
}
