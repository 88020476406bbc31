package store

import (
	"context"
	"time"
)

// LeaseKeeper is an optional Store capability for stores shared by several
// processes (store/postgres): renewal that says which leases it renewed.
// A dispatcher must know, per message, whether its lease is still its own
// before each provider call; a count cannot tell a lease lost to another
// instance from one its own Advance just dropped. Stores without it are
// used through RenewLeases, and a successful call is taken as renewing
// every id it was given (right for a store only one process uses).
type LeaseKeeper interface {
	// RenewLeaseIDs is RenewLeases returning the ids it renewed.
	RenewLeaseIDs(ctx context.Context, owner string, ids []string, until time.Time) (renewed []string, err error)
}
