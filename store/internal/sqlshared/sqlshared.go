// Package sqlshared holds the SQL both store drivers (store/sqlite,
// store/postgres) write the same way: expressions derived from the rules
// in package store, so no driver spells a status list or a ranking of its
// own.
package sqlshared

import (
	"fmt"
	"strings"

	"github.com/switchboard-gw/switchboard/store"
)

// NotFinal is the SQL list of the statuses Claim and Stats treat as work
// left to do: "('queued', 'sending', 'sent')", derived from
// store.Status.Final.
var NotFinal = func() string {
	var q []string
	for _, s := range store.Statuses() {
		if !s.Final() {
			q = append(q, "'"+string(s)+"'")
		}
	}
	return "(" + strings.Join(q, ", ") + ")"
}()

// Claimable is the SQL list of the statuses Claim takes a due message in:
// NotFinal and delivered, for a delivered message waiting for its read
// receipt (store.AwaitsRead). Every other final message has next_at NULL,
// so "next_at <= now" never finds one.
var Claimable = NotFinal[:len(NotFinal)-1] + ", '" + string(store.StatusDelivered) + "')"

// StatusRank is store.Status.Rank as an SQL expression over col.
func StatusRank(col string) string { return rankCase(col, store.Statuses()) }

// AttemptRank is store.AttemptStatus.Rank as an SQL expression over col,
// so an attempt upsert can compare ranks in the same statement.
func AttemptRank(col string) string { return rankCase(col, store.AttemptStatuses()) }

func rankCase[S interface {
	~string
	Rank() int
}](col string, statuses []S) string {
	var b strings.Builder
	b.WriteString("(CASE " + col)
	for _, s := range statuses {
		fmt.Fprintf(&b, " WHEN '%s' THEN %d", s, s.Rank())
	}
	b.WriteString(" ELSE -1 END)")
	return b.String()
}
