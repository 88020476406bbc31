package sqlite

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/storetest"
)

// TestListScanCapPagesThroughEverything: a search no index serves looks at
// a bounded stretch of messages per page, and following the cursors still
// finds every match once, newest first, whether the matches are rare, in
// a time range, or absent.
func TestListScanCapPagesThroughEverything(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "sb.db"), func(o *options) { o.listScan = 10 })
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ctx := t.Context()
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var all []string // oldest first
	for i := range 45 {
		channelPolicy := "otp"
		if i%11 == 3 {
			channelPolicy = "alerts" // the rare one: 4 of 45
		}
		m, _, err := s.Enqueue(ctx, &store.Message{ID: storetest.IDAt(base.Add(time.Duration(i) * time.Minute)),
			Policy: channelPolicy, Route: []string{"sms"}, To: store.Recipient{Phone: "+15551234567"}, Body: "hi"})
		require.NoError(t, err)
		all = append(all, m.ID)
	}
	want := func(keep func(i int) bool) []string {
		var out []string
		for i := len(all) - 1; i >= 0; i-- {
			if keep(i) {
				out = append(out, all[i])
			}
		}
		return out
	}
	tests := []struct {
		name  string
		p     store.ListParams
		want  []string
		pages int // at least this many pages (the cap makes short ones)
	}{
		{"rare policy", store.ListParams{Policy: "alerts", Limit: 2}, want(func(i int) bool { return i%11 == 3 }), 5},
		{"no match", store.ListParams{Policy: "nope", Limit: 5}, nil, 5},
		{"common status", store.ListParams{Status: store.StatusQueued, Limit: 20}, want(func(int) bool { return true }), 3},
		{"rare policy in a time range", store.ListParams{Policy: "alerts", Limit: 50,
			Since: base.Add(10 * time.Minute), Until: base.Add(40 * time.Minute)},
			want(func(i int) bool { return i%11 == 3 && i >= 10 && i < 40 }), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			pages := 0
			p := tt.p
			for {
				res, err := s.List(ctx, p)
				require.NoError(t, err)
				pages++
				require.LessOrEqual(t, len(res.Messages), p.Limit)
				for _, m := range res.Messages {
					got = append(got, m.ID)
				}
				if res.NextCursor == "" {
					break
				}
				require.Less(t, pages, 100, "cursors must end")
				p.Cursor = res.NextCursor
			}
			require.Equal(t, tt.want, got, "every match once, newest first")
			require.True(t, slices.IsSortedFunc(got, func(a, b string) int { return strings.Compare(b, a) }))
			require.GreaterOrEqual(t, pages, tt.pages, "the cap bounds what one page looks at")
		})
	}
	// Indexed searches are not capped: one page holds every match.
	res, err := s.List(ctx, store.ListParams{To: "+15551234567", Limit: 100})
	require.NoError(t, err)
	require.Len(t, res.Messages, 45)
	require.Empty(t, res.NextCursor)
}
