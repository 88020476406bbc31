package store

import (
	"context"
	"time"
)

// RecentAttempts lists the attempts made lately, for the dashboard's
// channel view (success rate, time to delivery, recent failovers).
// Computed from the store, the numbers cover every instance sharing the
// database and survive restarts.
type RecentAttempts interface {
	// RecentAttempts returns up to limit attempts started at or after
	// since, in (message id, seq) order, of messages accepted at or after
	// acceptedSince (an id range: see IDFloor). Bounding the messages keeps
	// the read to a primary key range; attempts of older messages (a long
	// retry) are left out.
	RecentAttempts(ctx context.Context, acceptedSince, since time.Time, limit int) ([]Attempt, error)
}
