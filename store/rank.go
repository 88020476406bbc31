package store

import (
	"cmp"
	"slices"
	"strings"
)

// Ranking rules both stores apply in Go. Status.Rank and
// AttemptStatus.Rank order statuses; the stores that compare ranks inside
// SQL build the comparison from these lists (store/internal/sqlshared), so
// Go and SQL cannot drift apart.

// Statuses lists every message status, in rank order.
func Statuses() []Status {
	return []Status{StatusQueued, StatusSending, StatusSent, StatusDelivered, StatusRead, StatusFailed, StatusExpired, StatusCanceled}
}

// AttemptStatuses lists every attempt status, in rank order.
func AttemptStatuses() []AttemptStatus {
	return []AttemptStatus{AttemptSkipped, AttemptFailed, AttemptSent, AttemptUndelivered, AttemptDelivered, AttemptRead}
}

// SortClaimed puts claimed messages in Claim's order, oldest due first
// (ties by ID): a store that takes them in one statement gets them back in
// no particular order.
func SortClaimed(ms []*Message) {
	slices.SortFunc(ms, func(a, b *Message) int {
		if c := a.NextAt.Compare(b.NextAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// SortCallbacks puts claimed callbacks in ClaimCallbacks's order, oldest
// due first (ties by ID).
func SortCallbacks(cs []Callback) {
	slices.SortFunc(cs, func(a, b Callback) int {
		if c := a.NextAt.Compare(b.NextAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}
