package sqlite

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// explain returns the EXPLAIN QUERY PLAN details of q, one per line.
func explain(t *testing.T, s *Store, q string, args ...any) string {
	t.Helper()
	rows, err := s.w.conn.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
	require.NoError(t, err)
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
		lines = append(lines, detail)
	}
	require.NoError(t, rows.Err())
	plan := strings.Join(lines, "\n")
	t.Logf("%s\n%s", firstLine(q), plan)
	return plan
}

// TestQueryPlans pins the indexes the hot and the support queries use: the
// schema keeps only the indexes these need, so a plan that falls back to a
// scan or a sort would go unnoticed until the table is big.
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	// The store never runs ANALYZE, so these plans (no statistics) are the
	// ones that ship.

	t.Run("claim walks the due index in order", func(t *testing.T) {
		plan := explain(t, s, claimSQL, "owner", int64(2), int64(1), 10)
		require.Contains(t, plan, "SEARCH messages USING INDEX messages_due (next_at>? AND next_at<?)")
		require.NotContains(t, plan, "TEMP B-TREE")
		require.NotContains(t, plan, "SCAN messages\n")
	})
	t.Run("release walks the due index", func(t *testing.T) {
		plan := explain(t, s, releaseSQL, "owner")
		require.Contains(t, plan, "USING INDEX messages_due")
		require.NotContains(t, plan, "TEMP B-TREE")
	})
	t.Run("advance updates by primary key", func(t *testing.T) {
		plan := explain(t, s, advanceOwnedSQL, 2, "sent", "sms", 0, 1, 1, "", int64(1), int64(1), "id", "owner", false)
		require.Contains(t, plan, "USING PRIMARY KEY (id=?)")
	})
	t.Run("receipt finds its attempt by provider id", func(t *testing.T) {
		plan := explain(t, s, receiptStateSQL, "sms", "SM1")
		require.Contains(t, plan, "SEARCH a USING INDEX attempts_provider (channel=? AND provider_id=?)")
		require.Contains(t, plan, "SEARCH m USING PRIMARY KEY (id=?)")
		require.NotContains(t, plan, "TEMP B-TREE")
	})
	t.Run("list by recipient unions the recipient indexes", func(t *testing.T) {
		q, args := listQuery(store.ListParams{To: "+1555"}, "", 51)
		plan := explain(t, s, q, args...)
		for _, idx := range []string{"messages_to_phone", "messages_to_whatsapp", "messages_to_email", "messages_to_telegram"} {
			require.Contains(t, plan, "INDEX "+idx+" (")
		}
		require.NotContains(t, plan, "SCAN messages\n")
		// The union is sorted: one recipient's messages, not the table.
	})
	t.Run("per-recipient count reads one recipient's window", func(t *testing.T) {
		floor := store.IDFloor(time.Now().Add(-time.Hour))
		for _, q := range []string{countRecipientSQL, nthRecipientSQL} {
			plan := explain(t, s, q, "otp", "tel:+15551234567", floor, 0)
			require.Contains(t, plan, "SEARCH recipient_sends USING PRIMARY KEY (policy=? AND recipient=? AND message_id>?)")
			require.NotContains(t, plan, "SCAN")
			require.NotContains(t, plan, "TEMP B-TREE")
		}
	})
	t.Run("list by a rare final status uses its partial index", func(t *testing.T) {
		for _, st := range []string{"failed", "expired"} {
			q, args := listQuery(store.ListParams{Status: store.Status(st)}, "", 51)
			plan := explain(t, s, q, args...)
			require.Contains(t, plan, "USING INDEX messages_status_bad (status=?)")
			require.NotContains(t, plan, "TEMP B-TREE")
		}
	})
	t.Run("list by another status walks the primary key newest first", func(t *testing.T) {
		q, args := listQuery(store.ListParams{Status: store.StatusDelivered}, "", 51)
		plan := explain(t, s, q, args...)
		require.Equal(t, "SCAN messages", plan)
	})
	t.Run("a capped walk reads a stretch of the primary key and looks rows up by it", func(t *testing.T) {
		for _, p := range []store.ListParams{
			{Policy: "otp"},
			{Channel: "sms", Status: store.StatusDelivered, Since: time.Unix(1, 0), Until: time.Unix(2, 0)},
		} {
			q, args, edgeQ, edgeArgs := cappedListQuery(p, "", 51, 20000)
			plan := explain(t, s, q, args...)
			require.Contains(t, plan, "CO-ROUTINE st")
			require.Contains(t, plan, "SEARCH messages USING PRIMARY KEY (id=?)")
			require.NotContains(t, plan, "TEMP B-TREE", "the stretch is walked in order: a full page stops it")
			edge := explain(t, s, edgeQ, edgeArgs...)
			require.NotContains(t, edge, "TEMP B-TREE")
			if !p.Since.IsZero() {
				require.Contains(t, plan, "(id>? AND id<?)")
				require.Contains(t, edge, "(id>? AND id<?)")
			}
		}
	})
	// The dashboard's search filters (1M-row timings: BenchmarkList1M).
	since, until := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)
	t.Run("list by tag walks that tag's rows newest first", func(t *testing.T) {
		for _, p := range []store.ListParams{
			{Tag: "otp"},
			{Tag: "otp", Since: since, Until: until},
			{Tag: "otp", Channel: "sms", Policy: "otp", Status: store.StatusDelivered},
		} {
			q, args := listQuery(p, "", 51)
			plan := explain(t, s, q, args...)
			require.Contains(t, plan, "SEARCH t USING PRIMARY KEY (tag=?")
			require.Contains(t, plan, "SEARCH messages USING PRIMARY KEY (id=?)")
			require.NotContains(t, plan, "TEMP B-TREE")
			if !p.Since.IsZero() {
				require.Contains(t, plan, "(tag=? AND message_id>? AND message_id<?)")
			}
		}
	})
	t.Run("list by tag and recipient unions the recipient indexes", func(t *testing.T) {
		q, args := listQuery(store.ListParams{Tag: "otp", To: "+1555"}, "", 51)
		plan := explain(t, s, q, args...)
		require.Contains(t, plan, "INDEX messages_to_phone (to_phone=?)")
		require.Contains(t, plan, "SEARCH message_tags EXISTS USING PRIMARY KEY (tag=? AND message_id=?)")
		require.NotContains(t, plan, "SCAN ")
	})
	t.Run("list by time range is a primary key range", func(t *testing.T) {
		q, args := listQuery(store.ListParams{Since: since, Until: until}, "", 51)
		plan := explain(t, s, q, args...)
		require.Equal(t, "SEARCH messages USING PRIMARY KEY (id>? AND id<?)", plan)
		q, args = listQuery(store.ListParams{Until: until, Channel: "sms", Policy: "otp"}, "cursor", 51)
		require.Equal(t, "SEARCH messages USING PRIMARY KEY (id<?)", explain(t, s, q, args...))
	})
	t.Run("list by recipient and time range narrows each recipient index", func(t *testing.T) {
		q, args := listQuery(store.ListParams{To: "+1555", Since: since, Until: until}, "", 51)
		plan := explain(t, s, q, args...)
		for _, idx := range []string{"messages_to_phone", "messages_to_whatsapp", "messages_to_email", "messages_to_telegram"} {
			require.Contains(t, plan, "INDEX "+idx+" ("+strings.TrimPrefix(idx, "messages_")+"=? AND id>? AND id<?)")
		}
		require.NotContains(t, plan, "SCAN messages\n")
	})
	t.Run("list by a rare final status and time range", func(t *testing.T) {
		q, args := listQuery(store.ListParams{Status: store.StatusFailed, Since: since, Until: until}, "", 51)
		plan := explain(t, s, q, args...)
		require.Equal(t, "SEARCH messages USING INDEX messages_status_bad (status=? AND id>? AND id<?)", plan)
	})
	t.Run("recent attempts are a primary key range", func(t *testing.T) {
		plan := explain(t, s, recentAttemptsSQL, store.IDFloor(since), int64(1), 1000)
		require.Equal(t, "SEARCH attempts USING PRIMARY KEY (message_id>?)", plan)
	})
	t.Run("stats walk the due index", func(t *testing.T) {
		plan := explain(t, s, statsSQL, int64(1))
		require.NotContains(t, plan, "SCAN messages\n")
		require.Equal(t, 2, strings.Count(plan, "messages_due"))
	})
}
