package store

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
)

// ToEnqueue is what every store stores for an Enqueue of m: a copy (m is
// never modified) with the routing state reset to a new queued message,
// the lease kept only when both owner and end are set (a pre-claimed
// message), empty collections as nil, an id (UUIDv7) and times filled in.
// round brings each time to the store's precision, so what Enqueue
// returns equals what a later Get reads back.
func ToEnqueue(m *Message, round func(time.Time) time.Time) (*Message, error) {
	if m == nil {
		return nil, errors.New("enqueue: nil message")
	}
	n := &Message{
		ID:               m.ID,
		IdempotencyScope: m.IdempotencyScope,
		IdempotencyKey:   m.IdempotencyKey,
		RequestHash:      m.RequestHash,
		Policy:           m.Policy,
		Route:            slices.Clone(m.Route),
		To:               m.To,
		Body:             m.Body,
		Subject:          m.Subject,
		HTML:             m.HTML,
		Tags:             slices.Clone(m.Tags),
		Metadata:         maps.Clone(m.Metadata),
		CallbackURL:      m.CallbackURL,
		Status:           StatusQueued,
		CreatedAt:        round(m.CreatedAt),
		ExpiresAt:        round(m.ExpiresAt),
		NextAt:           round(m.NextAt),
	}
	if m.LeaseOwner != "" && !m.LeaseUntil.IsZero() {
		// Pre-claimed: the caller hands the message to its own dispatcher.
		n.LeaseOwner, n.LeaseUntil = m.LeaseOwner, round(m.LeaseUntil)
	}
	NormalizeMessage(n)
	if n.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("generate message id: %w", err)
		}
		n.ID = id.String()
	}
	if n.CreatedAt.IsZero() {
		n.CreatedAt = round(time.Now())
	}
	n.UpdatedAt = n.CreatedAt
	if n.NextAt.IsZero() {
		n.NextAt = n.CreatedAt
	}
	return n, nil
}
