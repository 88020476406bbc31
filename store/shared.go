package store

import (
	"context"
	"time"
)

// Notifier and ReloadBroadcaster are optional: a store shared by several
// gateway instances (store/postgres) implements them; callers check with a
// type assertion and fall back to polling (there are no other instances
// to hear from). OverrideStore and Purger are part of Store.

// Notifier is implemented by a store that can tell an instance that work
// became due elsewhere (a message enqueued unleased, leases released, an
// undelivered receipt that fails over), so its dispatcher wakes at once
// instead of at its next poll.
type Notifier interface {
	// Notify returns a channel that receives (coalesced: capacity 1) after
	// new due work may have appeared. It is never closed; the first call
	// starts listening. Polling is still needed: a notification can be lost
	// (a dropped connection), and retries come due by the clock.
	Notify() <-chan struct{}
}

// Override is an ops override of one channel, shared by every instance.
type Override struct {
	Channel  string
	Disabled bool // false: enabled again by ops (the row records who and when)
	Reason   string
	By       string // the API key name that set it
	At       time.Time
}

// OverrideStore keeps ops overrides in the store, so disabling a channel on
// one instance takes it out of every instance's routes (and, with one
// instance, keeps it disabled across a restart).
type OverrideStore interface {
	// SetOverride records the override for o.Channel, replacing any earlier
	// one, and tells the other instances (OverridesChanged).
	SetOverride(ctx context.Context, o Override) error
	// Overrides lists every recorded override, by channel name.
	Overrides(ctx context.Context) ([]Override, error)
	// OverridesChanged receives (coalesced) after any instance's
	// SetOverride. Like Notify, it is a hint: reread Overrides on it and
	// also every few seconds.
	OverridesChanged() <-chan struct{}
}

// ReloadBroadcaster is implemented by a store shared by several instances:
// after ops reload the config on one instance, the others are told, so
// each re-reads its own config file (which config management keeps the
// same on every host) instead of running an old one until someone
// remembers to reload it too.
//
// Broadcasts are durable. A broadcast is not lost while an instance is
// starting or reconnecting: it catches up. Each store remembers the newest
// broadcast it has delivered; one made after the store was opened is
// delivered even if it was sent before the instance started listening or
// while its connection was down and reconnecting. Broadcasts made before
// the store was opened count as applied, so an instance must read its
// config file after opening the store (gateway.Run reads it again) for none
// to fall between the two.
type ReloadBroadcaster interface {
	// BroadcastReload records that the instance origin reloaded its
	// config, and tells every instance.
	BroadcastReload(ctx context.Context, origin string) error
	// ReloadRequested receives the origin of another instance's broadcast,
	// coalesced: one receive stands for every broadcast since the last
	// (capacity 1), so the receiver reloads once after it. Broadcasts
	// made through this store are its own and not delivered (a receiver
	// still skips its own origin, for stores that deliver them). The
	// first call starts listening.
	ReloadRequested() <-chan string
}

// Purger deletes old messages, for the gateway's store.retention.
type Purger interface {
	// Purge deletes up to limit of the oldest messages accepted before
	// before (as their UUIDv7 ids tell it, like ListParams.Until) that
	// nothing will happen to any more, short of a very late receipt: with
	// a zero NextAt (final, or sent and waiting with no deadline for a
	// receipt, as after its ttl passed) and no status callback still
	// pending. Their attempts, tags and callbacks go with
	// them, and their idempotency keys may be used again. It returns how
	// many it deleted; fewer than limit means none is left.
	Purge(ctx context.Context, before time.Time, limit int) (int, error)
	// PurgeInbound deletes up to limit of the oldest inbound messages
	// received before before (as their UUIDv7 ids tell it) whose callback
	// to the app, if any, is no longer pending; their callbacks go with
	// them. It returns how many it deleted; fewer than limit means none is
	// left.
	PurgeInbound(ctx context.Context, before time.Time, limit int) (int, error)
}
