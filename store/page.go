package store

import (
	"encoding/base64"
	"errors"
	"time"
	"unicode/utf8"
)

// Paging and claiming rules both stores apply around their queries.

// List page sizes: ListParams.Limit 0 means DefaultListLimit, and no page
// holds more than MaxListLimit.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// ListPage is what a store's List query needs from p: how many messages
// the page holds and the id the page starts below ("" for the newest). A
// cursor that did not come from a ListResult is ErrInvalidCursor. Stores
// read Limit+1 rows: the extra one says whether there is a next page (see
// PageOf).
func ListPage(p ListParams) (limit int, after string, err error) {
	limit = p.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	if p.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(p.Cursor)
		// Ids are text: a cursor that is not UTF-8 came from no page (and
		// PostgreSQL would refuse it as a text parameter, a 500).
		if err != nil || len(b) == 0 || !utf8.Valid(b) {
			return 0, "", ErrInvalidCursor
		}
		after = string(b)
	}
	return limit, after, nil
}

// Cursor is the ListResult.NextCursor of a page that ends at (or resumes
// below) the message id.
func Cursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

// PageOf makes a page of up to limit messages from ms, read newest first
// with one row more than the page holds: when that row is there, the page
// is full and NextCursor points below its last message.
func PageOf(ms []*Message, limit int) ListResult {
	if len(ms) > limit {
		return ListResult{Messages: ms[:limit], NextCursor: Cursor(ms[limit-1].ID)}
	}
	return ListResult{Messages: ms}
}

// CheckClaim validates p and returns the time the claim counts at (p.Now,
// or now when zero). none: a Limit of zero or less claims nothing.
func CheckClaim(p ClaimParams, now func() time.Time) (at time.Time, none bool, err error) {
	return checkClaim("claim", p.Owner, p.Limit, p.Now, now)
}

// CheckCallbackClaim is CheckClaim for CallbackOutbox.ClaimCallbacks.
func CheckCallbackClaim(owner string, limit int, at time.Time, now func() time.Time) (time.Time, bool, error) {
	return checkClaim("claim callbacks", owner, limit, at, now)
}

func checkClaim(op, owner string, limit int, at time.Time, now func() time.Time) (time.Time, bool, error) {
	if owner == "" {
		return time.Time{}, true, errors.New(op + ": empty owner")
	}
	if limit <= 0 {
		return time.Time{}, true, nil
	}
	if at.IsZero() {
		at = now()
	}
	return at, false, nil
}

// NormalizeMessage brings a message read back from a store to the form
// Enqueue returns: empty collections are nil, so a round trip compares
// equal whichever way the caller spelled "none".
func NormalizeMessage(m *Message) {
	if len(m.Route) == 0 {
		m.Route = nil
	}
	if len(m.Tags) == 0 {
		m.Tags = nil
	}
	if len(m.Metadata) == 0 {
		m.Metadata = nil
	}
}
