// Package store holds messages and their attempts. The message row is the
// queue (an outbox): its status, next-due time and lease live on the row, so
// every transition is one write in one transaction and the store is the
// single truth for the API, the dispatcher and the dashboard.
//
// Implementations: store/sqlite (embedded default) and store/postgres (shared
// by several instances). Every implementation must pass store/storetest.
// The rules that decide a write (DecideReceipt, DecideAdvance, the rank
// orders) live in this package; a driver holds the SQL and the mapping,
// and calls them between its reads and its writes.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/switchboard-gw/switchboard/reason"
)

var (
	// ErrNotFound: no such message (or, for receipts, no attempt with that
	// channel and provider id).
	ErrNotFound = errors.New("not found")
	// ErrLeaseLost: the message is no longer leased by the caller (the lease
	// expired and someone else claimed it). Attempts were still recorded.
	ErrLeaseLost = errors.New("lease lost")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store closed")
	// ErrInvalidCursor: ListParams.Cursor did not come from a ListResult.
	ErrInvalidCursor = errors.New("invalid cursor")
	// ErrNotCancelable: Cancel found the message already handed to a
	// provider (sending or later), leased by a dispatcher about to hand it
	// over, or final with another status.
	ErrNotCancelable = errors.New("message can no longer be canceled")
)

// Status is a message's status. It only moves forward in this order:
// queued < sending < sent < delivered < read; failed, expired and canceled
// are final.
type Status string

const (
	StatusQueued    Status = "queued"
	StatusSending   Status = "sending"
	StatusSent      Status = "sent"
	StatusDelivered Status = "delivered"
	StatusRead      Status = "read"
	StatusFailed    Status = "failed"
	StatusExpired   Status = "expired"
	StatusCanceled  Status = "canceled" // by the API before any provider had it (see Canceler)

	// StatusScheduled is never stored: it is how the API shows a queued
	// message with no attempt whose due time is still ahead (a send_at, or
	// quiet hours), see Message.Scheduled. Keeping it out of the stored
	// statuses leaves Claim's "status IN (...)" and the queue indexes as
	// they are.
	StatusScheduled Status = "scheduled"
)

// Rank orders statuses; a write never lowers a message's rank. Final
// statuses rank highest so nothing moves a message out of them, except that
// a delivered receipt may still arrive for a message that is failed or
// expired (a late receipt): that is handled by RecordReceipt explicitly.
func (s Status) Rank() int {
	switch s {
	case StatusQueued, StatusScheduled:
		return 0
	case StatusSending:
		return 1
	case StatusSent:
		return 2
	case StatusDelivered:
		return 3
	case StatusRead:
		return 4
	case StatusFailed, StatusExpired, StatusCanceled:
		return 5
	}
	return -1
}

// Final reports whether no more work will be done for the message.
func (s Status) Final() bool {
	switch s {
	case StatusDelivered, StatusRead, StatusFailed, StatusExpired, StatusCanceled:
		return true
	}
	return false
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s.Rank() >= 0 }

// Recipient holds one address per kind; empty means none.
type Recipient struct {
	Phone    string `json:"phone,omitempty"`
	WhatsApp string `json:"whatsapp,omitempty"`
	Email    string `json:"email,omitempty"`
	Telegram string `json:"telegram,omitempty"`
}

// Message is one accepted message and its routing state.
type Message struct {
	ID string // time-ordered (UUIDv7): newest-first paging sorts on it

	// Idempotency: unique per (IdempotencyScope, IdempotencyKey) when the key
	// is not empty. Scope is the API key's name, so two apps never collide.
	IdempotencyScope string
	IdempotencyKey   string
	RequestHash      string // hash of the request body, to detect key reuse

	Policy      string
	Route       []string // channel names, fixed when the message is accepted
	To          Recipient
	Body        string
	Subject     string
	HTML        string // optional HTML alternative to Body (email)
	Tags        []string
	Metadata    map[string]string
	CallbackURL string

	Status    Status
	Channel   string // channel of the current/last attempt, or the one that delivered
	Step      int    // index into Route of the channel being tried
	Tries     int    // tries on Route[Step] so far (transient retry budget)
	Attempts  int    // number of attempts recorded; the current one has Seq == Attempts
	Duplicate bool   // delivered on more than one channel
	LastError string

	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time
	// NextAt is when the dispatcher should look at the message again; zero
	// means not due (final, or sent and waiting for a receipt with no deadline).
	NextAt time.Time

	// Lease. Claim (or a pre-claimed Enqueue) sets them; Advance and
	// Release clear them.
	LeaseOwner string
	LeaseUntil time.Time

	// Set by Claim only: the message was claimed before and the lease expired
	// without an Advance, so a previous process may have sent it already.
	Reclaimed bool
	// Set by Claim only: the current attempt (Seq == Attempts), if any.
	Current *Attempt

	// Set by Get only: every attempt, in Seq order.
	History []Attempt

	// Enqueue only, never stored or returned: refuse the message when a
	// recipient is at its per-recipient limit (see RecipientLimit).
	Limit *RecipientLimit
}

// AttemptStatus is the state of one attempt on one channel.
type AttemptStatus string

const (
	AttemptSkipped     AttemptStatus = "skipped"     // not tried: no address, unhealthy, breaker open, unknown channel
	AttemptFailed      AttemptStatus = "failed"      // the provider call failed (see ErrorClass)
	AttemptSent        AttemptStatus = "sent"        // the provider accepted it
	AttemptDelivered   AttemptStatus = "delivered"   // a delivered receipt arrived
	AttemptRead        AttemptStatus = "read"        // a read receipt arrived
	AttemptUndelivered AttemptStatus = "undelivered" // the provider reported it undelivered/failed
)

// Rank orders attempt statuses for receipts: a receipt never lowers an
// attempt's status (a late "sent" after "delivered" is ignored).
func (s AttemptStatus) Rank() int {
	switch s {
	case AttemptSkipped, AttemptFailed:
		return 0
	case AttemptSent:
		return 1
	case AttemptUndelivered:
		return 2
	case AttemptDelivered:
		return 3
	case AttemptRead:
		return 4
	}
	return -1
}

// Attempt is one try of one channel for one message.
type Attempt struct {
	MessageID  string
	Seq        int // 1-based, per message
	Step       int // index into the message's Route
	Channel    string
	Status     AttemptStatus
	ProviderID string
	ErrorClass string // channels.Class, "" on success
	Error      string
	Info       string // e.g. "2 segments, GSM-7"
	// Sender is the sender the channel used for this attempt (a number,
	// an alphanumeric sender ID, a messaging service SID, a WhatsApp phone
	// number id; see channels.Result.Sender); "" when it did not say.
	Sender string
	// Reason says why the route moved on from this attempt: a failover
	// trigger (reason.Error, reason.BreakerOpen, reason.Unhealthy,
	// reason.NoReceipt, ...), a skip (reason.NoAddress, ...) or a canary.
	// None while the attempt is current, and on the attempt that ended the
	// message unless a trigger fired on it (a route whose last channel
	// errors ends "failed" with that attempt's reason "error").
	Reason reason.Reason
	// Ambiguous: the provider may have accepted the message even though the
	// call failed (timeout after the request was written), or a previous
	// process was mid-send when it died. A duplicate is possible.
	Ambiguous bool
	// Late: a receipt arrived after the route had moved on from this attempt.
	Late bool
	// Cost is what the attempt cost (see cost.go); zero: none recorded.
	// Recorded when the attempt is first written (a declared cost, or a
	// price in the provider's answer) and replaced by a receipt's
	// reported price; an upsert of an attempt already stored keeps it.
	Cost Cost

	StartedAt   time.Time
	EndedAt     time.Time // zero while waiting for a receipt
	DeliveredAt time.Time
	// ReadAt is when a read receipt arrived (WhatsApp); zero if none. Set
	// by RecordReceipt only.
	ReadAt time.Time
}

// ClaimParams asks for due work.
type ClaimParams struct {
	Owner string        // unique per process (and per instance, later)
	Lease time.Duration // how long the claim holds
	Limit int
	Now   time.Time
}

// Transition is the dispatcher's result for one claimed message: attempts
// to record and the message's new routing state, written in one transaction.
type Transition struct {
	MessageID string
	Owner     string // must hold the lease for the message fields to change

	// Attempts are upserted by (MessageID, Seq). On conflict (an attempt
	// already recorded, e.g. the current one that timed out waiting for its
	// receipt) only Reason, EndedAt, Error, ErrorClass and Ambiguous are
	// updated, and Status only if the new status ranks higher: a receipt
	// that raced the dispatcher is never overwritten.
	Attempts []Attempt

	Status    Status // applied only if it does not lower the stored rank
	Channel   string
	Step      int
	Tries     int
	LastError string
	NextAt    time.Time // zero: not due
	Now       time.Time

	// ReadWait: the transition is about a read wait (a policy's
	// read_timeout). A delivered Status keeps NextAt, the read deadline
	// (see AwaitsRead); without ReadWait a delivered message is final and
	// never due. And a message claimed delivered, waiting for its read,
	// takes the transition as long as it is still delivered (a read
	// receipt meanwhile wins) even though its Status ranks lower: no_read
	// moved the route on, and its status becomes the next channel's.
	ReadWait bool
	// Spend is added to the channels' spend counters in the same
	// transaction (the costs of the attempts this step made). Empty for
	// channels without a cost, so they pay nothing for the feature.
	Spend []Spend
}

// ReceiptParams is a provider's delivery report, matched to an attempt by
// (Channel, ProviderID).
type ReceiptParams struct {
	Channel    string
	ProviderID string
	Status     AttemptStatus // AttemptSent, AttemptDelivered, AttemptRead or AttemptUndelivered
	Error      string
	At         time.Time
	// FailoverOnUndelivered: when the attempt is the message's current one
	// and Status is AttemptUndelivered, make the message due now (NextAt =
	// At) so the dispatcher moves down the route (the policy's "undelivered"
	// trigger). Without it the message becomes failed.
	FailoverOnUndelivered bool
	// ReadTimeouts maps a policy name to how long a message of that policy
	// delivered on this channel may go unread (the policy's read_timeout
	// for the channel's kind, when it fails over on no_read). A delivered
	// receipt for the current attempt of such a message leaves it
	// delivered and due at At + that time (see AwaitsRead).
	ReadTimeouts map[string]time.Duration
	// Cost, if not zero, is the price the receipt reports for the
	// attempt: it replaces the attempt's cost as DecideCost says, and the
	// spend counters move with it, whatever the receipt's status does.
	Cost Cost
}

// ReceiptResult says what a receipt did.
type ReceiptResult struct {
	MessageID string
	Seq       int
	Late      bool   // the route had already moved on from this attempt
	Status    Status // the message's status after the receipt
	Duplicate bool   // the message is now known delivered on two channels
	Changed   bool   // false if the receipt was stale (ranked lower) and ignored
	// Spend: how the spend counters moved with the receipt's cost (see
	// ReceiptParams.Cost); set even when Changed is false.
	Spend []Spend
}

// ListParams filters and pages messages, newest first.
type ListParams struct {
	To      string // any recipient field equal to this
	Status  Status
	Channel string
	Policy  string
	Tag     string // messages carrying this tag
	// Since and Until bound when a message was accepted, as its id tells
	// it: ids are UUIDv7, whose first 48 bits are the accept time in unix
	// milliseconds, so the bounds are an id range (see IDFloor) that walks
	// the primary key and every (x, id) index with no extra index. Since is
	// inclusive, Until exclusive; zero means unbounded.
	Since time.Time
	Until time.Time
	// Now tells queued from scheduled (Message.Scheduled): with Now set,
	// Status queued leaves out the messages scheduled after Now. Zero:
	// queued is every stored queued message, and scheduled is judged by
	// the store's clock.
	Now    time.Time
	Limit  int    // default 50, max 500
	Cursor string // opaque; from a previous ListResult
}

// IDFloor is the smallest message id (a UUIDv7 in canonical lowercase form)
// accepted at or after t: every id of a message accepted at or after t
// sorts at or after it, and every earlier one before it.
func IDFloor(t time.Time) string {
	ms := max(t.UnixMilli(), 0)
	const hex = "0123456789abcdef"
	var b [12]byte
	for i := 11; i >= 0; i-- {
		b[i] = hex[ms&0xf]
		ms >>= 4
	}
	return string(b[:8]) + "-" + string(b[8:]) + "-0000-0000-000000000000"
}

// ListResult is one page.
type ListResult struct {
	Messages   []*Message // without History
	NextCursor string     // "" on the last page; may be set on a short page (see Store.List)
}

// QueueStats describes due work.
type QueueStats struct {
	Pending   int       // messages not final
	Due       int       // messages Claim would take now (due, not held by a live lease)
	OldestDue time.Time // zero if none
}

// Store is the message store and work queue, with everything both stores
// keep: the status callback outbox, ops overrides, retention, the receipt
// breaker's MakeDue, the dashboard's recent attempts and per-recipient
// counts. What only a store shared by several instances can do stays
// optional (Notifier, ReloadBroadcaster, LeaseKeeper), as does Failer
// (only an embedded store fails for good).
type Store interface {
	CallbackOutbox
	OverrideStore
	Purger
	DueMaker
	RecentAttempts
	RecipientCounter
	InboundStore
	SuppressionStore
	SpendReader

	// Enqueue durably stores a new message (status queued, due at NextAt).
	// When m has an idempotency key already stored in the same scope, it
	// stores nothing and returns the stored message with replayed = true.
	// When Enqueue returns without error the message is on disk.
	//
	// m is not modified. An empty ID gets a new UUIDv7, a zero CreatedAt the
	// current time, and a zero NextAt means due at CreatedAt. A NextAt
	// after CreatedAt stores a scheduled message (Message.Scheduled):
	// Claim takes it when that time comes. The routing fields of m (Status, Step, Attempts, ...)
	// are ignored. Empty Route, Tags and Metadata come back nil.
	//
	// Pre-claimed: when m.LeaseOwner is set and m.LeaseUntil is not zero,
	// the message is stored already leased to LeaseOwner until LeaseUntil,
	// as if that owner had claimed it at once. The caller hands it straight
	// to its dispatcher, which Advances it without a Claim. Claim does not
	// take it until the lease expires; then it does, with Reclaimed = true
	// (the owner may have sent it), and Release frees it at once as usual.
	// A LeaseOwner without a LeaseUntil is ignored. A replay returns the
	// stored message with whatever lease it has now; the caller must not
	// treat a replayed message as its own.
	Enqueue(ctx context.Context, m *Message) (stored *Message, replayed bool, err error)
	// Claim leases up to Limit due messages (NextAt <= Now, not final, not
	// leased or lease expired: LeaseUntil < Now), oldest due first (ties by
	// ID). It does not change NextAt or UpdatedAt.
	Claim(ctx context.Context, p ClaimParams) ([]*Message, error)
	// Advance records a transition. If the caller no longer holds the lease
	// the attempts are still recorded and ErrLeaseLost is returned. If the
	// message became final meanwhile (a receipt raced the dispatcher) the
	// attempts are recorded and the message fields are left alone.
	// In every case Attempts becomes max(Attempts, highest Seq given), and a
	// lease the caller holds is dropped. Holding the lease means LeaseOwner
	// == Owner, even if LeaseUntil passed and nobody claimed it since. A
	// final Status clears NextAt. Unknown message: ErrNotFound.
	Advance(ctx context.Context, t *Transition) error
	// Release drops the owner's leases without changing anything else, so
	// another process can claim the messages at once (graceful shutdown).
	// It may leave the lease on a message that a receipt made final after it
	// was claimed (nothing claims a final message; the owner's Advance drops
	// that lease as usual).
	Release(ctx context.Context, owner string) error
	// RenewLeases sets LeaseUntil = until on each of ids still leased by
	// owner (LeaseOwner == owner, even if LeaseUntil passed and nobody
	// claimed it since), so a message that takes longer than one lease to
	// process is not claimed by another process meanwhile. Ids not leased by
	// owner (lost, advanced, released, unknown) are skipped silently; it
	// returns how many were renewed. Nothing else changes (not UpdatedAt).
	RenewLeases(ctx context.Context, owner string, ids []string, until time.Time) (renewed int, err error)
	// RecordReceipt applies a provider's delivery report. No attempt with
	// (Channel, ProviderID): ErrNotFound. Message leases are never touched.
	RecordReceipt(ctx context.Context, p ReceiptParams) (ReceiptResult, error)
	// Get returns a message with its History.
	Get(ctx context.Context, id string) (*Message, error)
	// List returns a page of messages, newest first. A page may hold
	// fewer than Limit messages, even none, and still have a NextCursor:
	// a store may bound how many messages one page looks at when no index
	// serves the filters (store/sqlite does). Follow NextCursor until it
	// is empty to see every match.
	List(ctx context.Context, p ListParams) (ListResult, error)
	// Stats describes the queue.
	Stats(ctx context.Context, now time.Time) (QueueStats, error)
	// Ping checks the store is usable (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// AttemptRef names one attempt of one message.
type AttemptRef struct {
	MessageID string
	Seq       int
	Channel   string
}

// DueMaker is the part of Store the receipt breaker uses: when a channel
// goes silent (accepts messages, delivers none), the messages waiting on
// it for a receipt fail over at once instead of each waiting out its
// deadline.
type DueMaker interface {
	// MakeDue makes each referenced message due at at (NextAt = at) if its
	// current attempt is still that one (Attempts == Seq) on that Channel,
	// accepted and waiting for its receipt (attempt status sent, not
	// ended), the message is not final and NextAt is later than at. Other
	// refs are left alone (a receipt or the dispatcher got there first).
	// Leases are not touched. It returns how many messages it changed.
	MakeDue(ctx context.Context, refs []AttemptRef, at time.Time) (int, error)
}
