package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Per-recipient limits (a policy's limits.per_recipient) count the messages
// accepted for one recipient under one policy in a sliding window. A
// message counts for each of its recipient keys (RecipientKeys): a send to
// {phone, email} counts once against the phone and once against the email,
// and is refused if either is at its limit.
//
// Only messages enqueued with a RecipientLimit are counted (the API sets one
// when the message's policy has a limit), so a limit added by a reload
// counts messages from then on, not the ones accepted before.

// ErrRecipientLimited is what Enqueue returns (wrapped in a
// *RecipientLimitError) when a recipient of the message is at its limit.
var ErrRecipientLimited = errors.New("recipient limit reached")

// RecipientLimit asks Enqueue to refuse the message if any of its
// recipient keys already has Max messages accepted under the message's
// policy since Since, and otherwise to record the message for each key.
// The count and the insert are one atomic step (see the stores), so
// concurrent sends to one recipient cannot both take its last slot.
type RecipientLimit struct {
	Max   int
	Since time.Time
}

// RecipientLimitError says which recipient is at its limit and when the
// oldest counted message that holds it there was accepted: once that one
// leaves the window a send fits again.
type RecipientLimitError struct {
	Key   string // a RecipientKeys key, e.g. "tel:+15551234567"
	Count int    // messages counted in the window
	// Oldest is the accept time of the message whose leaving the window
	// frees a slot (the Count-Max+1'th newest); zero if unknown.
	Oldest time.Time
}

func (e *RecipientLimitError) Error() string {
	return fmt.Sprintf("%v: %d messages in the window", ErrRecipientLimited, e.Count)
}

func (e *RecipientLimitError) Unwrap() error { return ErrRecipientLimited }

// RecipientCounter is the count behind Message.Limit. Counting is served by the
// recipient_sends table's primary key (policy, recipient, message_id):
// message ids are UUIDv7, so "accepted since t" is an id range (IDFloor)
// and a count reads only that recipient's rows in the window.
type RecipientCounter interface {
	// CountRecipient counts the messages recorded for recipient (a
	// RecipientKeys key) under policy and accepted at or after since.
	CountRecipient(ctx context.Context, policy, recipient string, since time.Time) (int, error)
}

// RecipientKeys returns the keys a message's recipient counts under, one
// per distinct address, without duplicates:
//   - phone and whatsapp: "tel:" and the E.164 number, so one number used
//     as both is one recipient;
//   - email: "email:" and the address in lower case (providers treat the
//     local part case-insensitively in practice; counting "Ana@x" and
//     "ana@x" apart would let a sender double a limit by changing case);
//   - telegram: "telegram:" and the chat id or @username in lower case
//     (Telegram usernames are case-insensitive).
func RecipientKeys(to Recipient) []string {
	keys := make([]string, 0, 3)
	add := func(k string) {
		for _, x := range keys {
			if x == k {
				return
			}
		}
		keys = append(keys, k)
	}
	if to.Phone != "" {
		add("tel:" + to.Phone)
	}
	if to.WhatsApp != "" {
		add("tel:" + strings.TrimPrefix(to.WhatsApp, "whatsapp:"))
	}
	if to.Email != "" {
		add("email:" + strings.ToLower(to.Email))
	}
	if to.Telegram != "" {
		add("telegram:" + strings.ToLower(to.Telegram))
	}
	return keys
}

// IDTime is the accept time a message id (UUIDv7) carries, to the
// millisecond; zero for an id that is not a UUIDv7.
func IDTime(id string) time.Time {
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 {
		return time.Time{}
	}
	sec, nsec := u.Time().UnixTime()
	return time.Unix(sec, nsec).UTC()
}
