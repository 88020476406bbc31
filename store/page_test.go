package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

func TestListPage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      store.ListParams
		limit  int
		after  string
		badCur bool
	}{
		{name: "defaults", limit: store.DefaultListLimit},
		{name: "negative limit", p: store.ListParams{Limit: -3}, limit: store.DefaultListLimit},
		{name: "limit kept", p: store.ListParams{Limit: 7}, limit: 7},
		{name: "limit capped", p: store.ListParams{Limit: 10_000}, limit: store.MaxListLimit},
		{name: "cursor round trip", p: store.ListParams{Cursor: store.Cursor("0190-abc")}, limit: store.DefaultListLimit, after: "0190-abc"},
		{name: "cursor not base64", p: store.ListParams{Cursor: "%%%"}, badCur: true},
		{name: "cursor of nothing", p: store.ListParams{Cursor: "="}, badCur: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limit, after, err := store.ListPage(tc.p)
			if tc.badCur {
				require.ErrorIs(t, err, store.ErrInvalidCursor)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.limit, limit)
			require.Equal(t, tc.after, after)
		})
	}
}

func TestPageOf(t *testing.T) {
	ms := func(ids ...string) []*store.Message {
		var out []*store.Message
		for _, id := range ids {
			out = append(out, &store.Message{ID: id})
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		in     []*store.Message
		limit  int
		n      int
		cursor string
	}{
		{name: "empty", limit: 2},
		{name: "short page: the last", in: ms("c", "b"), limit: 3, n: 2},
		{name: "exactly full, no extra row: the last", in: ms("c", "b"), limit: 2, n: 2},
		{name: "extra row: a next page below the last shown", in: ms("c", "b", "a"), limit: 2, n: 2, cursor: store.Cursor("b")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := store.PageOf(tc.in, tc.limit)
			require.Len(t, res.Messages, tc.n)
			require.Equal(t, tc.cursor, res.NextCursor)
		})
	}
}

func TestCheckClaim(t *testing.T) {
	now := func() time.Time { return tNext }
	for _, tc := range []struct {
		name string
		p    store.ClaimParams
		at   time.Time
		none bool
		bad  bool
	}{
		{name: "no owner", p: store.ClaimParams{Limit: 5}, none: true, bad: true},
		{name: "no limit", p: store.ClaimParams{Owner: "me"}, none: true},
		{name: "now defaulted", p: store.ClaimParams{Owner: "me", Limit: 1}, at: tNext},
		{name: "now given", p: store.ClaimParams{Owner: "me", Limit: 1, Now: tAt}, at: tAt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, check := range []func() (time.Time, bool, error){
				func() (time.Time, bool, error) { return store.CheckClaim(tc.p, now) },
				func() (time.Time, bool, error) {
					return store.CheckCallbackClaim(tc.p.Owner, tc.p.Limit, tc.p.Now, now)
				},
			} {
				at, none, err := check()
				require.Equal(t, tc.bad, err != nil, "%v", err)
				require.Equal(t, tc.none, none)
				require.Equal(t, tc.at, at)
			}
		})
	}
}

func TestNormalizeMessage(t *testing.T) {
	m := &store.Message{Route: []string{}, Tags: []string{}, Metadata: map[string]string{}}
	store.NormalizeMessage(m)
	require.Nil(t, m.Route)
	require.Nil(t, m.Tags)
	require.Nil(t, m.Metadata)
	m = &store.Message{Route: []string{"sms"}, Tags: []string{"otp"}, Metadata: map[string]string{"k": "v"}}
	store.NormalizeMessage(m)
	require.Equal(t, []string{"sms"}, m.Route)
	require.Equal(t, []string{"otp"}, m.Tags)
	require.Equal(t, map[string]string{"k": "v"}, m.Metadata)
}

func TestPendingMigrations(t *testing.T) {
	ms := []store.Migration{{Version: 1, Name: "0001_a.sql"}, {Version: 2, Name: "0002_b.sql"}, {Version: 4, Name: "0004_c.sql"}}
	names := func(ms []store.Migration) (out []string) {
		for _, m := range ms {
			out = append(out, m.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		ms      []store.Migration
		applied []int
		want    []string
		tooNew  bool
	}{
		{name: "new database", ms: ms, want: []string{"0001_a.sql", "0002_b.sql", "0004_c.sql"}},
		{name: "part applied", ms: ms, applied: []int{1, 2}, want: []string{"0004_c.sql"}},
		{name: "up to date", ms: ms, applied: []int{1, 2, 4}},
		// A build that had 0004 ran before 0002 existed: 0002 still runs.
		{name: "a gap below the newest", ms: ms, applied: []int{1, 4}, want: []string{"0002_b.sql"}},
		{name: "newer binary wrote it", ms: ms, applied: []int{1, 2, 4, 5}, tooNew: true},
		{name: "no migrations", applied: []int{3}, tooNew: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := store.PendingMigrations(tc.ms, tc.applied)
			if tc.tooNew {
				var e *store.SchemaTooNewError
				require.True(t, errors.As(err, &e), "%v", err)
				require.Equal(t, store.SchemaTooNewError{Current: 5, Known: 4}, *e)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, names(got))
		})
	}
}
