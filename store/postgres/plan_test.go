package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// The indexes kept by migrations 0005 and 0012 serve the queries they are kept for.
// Sequential scans are disabled for the check: on a test-sized table the
// planner would rightly prefer them, and the question is whether an index
// can answer the query at all.
func TestQueryPlansUseIndexes(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := t.Context()
	now := time.Now()
	cases := []struct {
		name, sql string
		args      []any
		index     string
	}{
		// Delivered messages at their read deadline come from the same
		// range (migration 0013 replaced 0010's messages_unread).
		{"claim", claimSQL, []any{"owner", now.Add(time.Minute), now, 10}, "message_queue_due"},
		{"stats", statsSQL, []any{now}, "message_queue_due"},
		{"release", releaseSQL, []any{"owner"}, "message_queue"},
		{"renew", renewSQL, []any{[]string{"a", "b"}, "owner", now}, "messages_pkey"},
		{"receipt", receiptStateSQL, []any{"sms", "p1"}, "attempts_provider"},
		{"idempotency", `SELECT id FROM messages WHERE idem_scope = $1 AND idem_key = $2 AND idem_key <> ''`,
			[]any{"s", "k"}, "messages_idempotency"},
		{"list failed", `SELECT id FROM messages WHERE bad AND status = 'failed' ORDER BY id DESC LIMIT 50`, nil, "messages_bad"},
		{"list to", `SELECT id FROM messages WHERE (to_phone = $1 OR to_whatsapp = $1 OR to_email = $1 OR to_telegram = $1)
			ORDER BY id DESC LIMIT 50`, []any{"+1555"}, "messages_to_phone"},
		{"list tag", `SELECT id FROM messages WHERE tags @> ARRAY[$1::text] ORDER BY id DESC LIMIT 50`, []any{"otp"}, "messages_tags"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := explain(ctx, t, s, tc.sql, tc.args...)
			require.Contains(t, plan, tc.index, "plan:\n%s", plan)
		})
	}
}

func explain(ctx context.Context, t *testing.T, s *Store, q string, args ...any) string {
	t.Helper()
	var lines []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				return err
			}
			lines = append(lines, l)
		}
		return rows.Err()
	})
	require.NoError(t, err)
	return strings.Join(lines, "\n")
}
