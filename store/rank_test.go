package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// The lists are in rank order and hold every valid status once: the SQL
// the stores build from them (store/internal/sqlshared) ranks as Go does.
func TestStatusListsInRankOrder(t *testing.T) {
	prev := -1
	for _, s := range store.Statuses() {
		require.True(t, s.Valid(), s)
		require.GreaterOrEqual(t, s.Rank(), prev, s)
		prev = s.Rank()
	}
	require.Len(t, store.Statuses(), 8)
	prev = -1
	for _, s := range store.AttemptStatuses() {
		require.GreaterOrEqual(t, s.Rank(), max(prev, 0), s)
		prev = s.Rank()
	}
	require.Len(t, store.AttemptStatuses(), 6)
}

func TestSortClaimed(t *testing.T) {
	m := func(id string, next time.Time) *store.Message { return &store.Message{ID: id, NextAt: next} }
	for _, tc := range []struct {
		name string
		in   []*store.Message
		want []string
	}{
		{name: "none"},
		{name: "oldest due first", in: []*store.Message{m("a", tNext), m("b", tAt)}, want: []string{"b", "a"}},
		{name: "ties by id", in: []*store.Message{m("c", tAt), m("a", tNext), m("b", tAt)}, want: []string{"b", "c", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store.SortClaimed(tc.in)
			var got []string
			for _, x := range tc.in {
				got = append(got, x.ID)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestSortCallbacks(t *testing.T) {
	c := func(id int64, next time.Time) store.Callback { return store.Callback{ID: id, NextAt: next} }
	for _, tc := range []struct {
		name string
		in   []store.Callback
		want []int64
	}{
		{name: "none"},
		{name: "oldest due first", in: []store.Callback{c(1, tNext), c(2, tAt)}, want: []int64{2, 1}},
		{name: "ties by id", in: []store.Callback{c(9, tAt), c(1, tNext), c(3, tAt)}, want: []int64{3, 9, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store.SortCallbacks(tc.in)
			var got []int64
			for _, x := range tc.in {
				got = append(got, x.ID)
			}
			require.Equal(t, tc.want, got)
		})
	}
}
