package store

import (
	"context"
	"encoding/base64"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// SuppressionStore is the opt-out list, part of Store. Entries are keyed
// by (Address, Kind); addresses go through SuppressionAddress on the way
// in, so a caller need not normalise them first.
type SuppressionStore interface {
	// Suppress adds s, or replaces the entry with its (Address, Kind): the
	// newest reason, source and time win. A zero CreatedAt means now.
	Suppress(ctx context.Context, s Suppression) error
	// Unsuppress removes the entry for (address, kind) and reports whether
	// there was one.
	Unsuppress(ctx context.Context, address, kind string) (removed bool, err error)
	// ListSuppressions returns a page of entries ordered by (Address, Kind).
	ListSuppressions(ctx context.Context, p SuppressionListParams) (SuppressionPage, error)
	// SuppressionsFor returns the entries that stop a message to to: one per
	// (address, kind) pair of the recipient (phone on sms, whatsapp on
	// whatsapp, ...), in no particular order. It is on the dispatcher's hot
	// path: when no entry names any of the recipient's addresses it answers
	// from memory, without reading the database (see SuppressionFilter).
	SuppressionsFor(ctx context.Context, to Recipient) ([]Suppression, error)
}

// SuppressionListParams filters and pages the suppression list.
type SuppressionListParams struct {
	Address string // exact (normalised with SuppressionAddress by the store)
	Kind    string
	Limit   int    // default DefaultListLimit, at most MaxListLimit
	Cursor  string // opaque; from a previous SuppressionPage
}

// SuppressionPage is one page of the suppression list.
type SuppressionPage struct {
	Suppressions []Suppression
	NextCursor   string // "" on the last page
}

// SuppressionAddress normalises an address the way the API normalises a
// message's To fields, so an entry and a message always meet: surrounding
// space trimmed, Twilio's "whatsapp:" prefix dropped, and an address with
// an @ (an email, a Telegram @channel, both case-insensitive) lowercased.
// The rule is the same for every kind (kind is for the callers' clarity),
// so a lookup by address alone finds every kind's entries.
func SuppressionAddress(kind, address string) string {
	_ = kind
	address = strings.TrimPrefix(strings.TrimSpace(address), "whatsapp:")
	if strings.Contains(address, "@") {
		address = strings.ToLower(address)
	}
	return address
}

// SuppressionKeys are the (address, kind) pairs an entry would need to
// stop a message to r, with normalised addresses; absent addresses are
// left out.
func (r Recipient) SuppressionKeys() []Suppression {
	out := make([]Suppression, 0, 4)
	for _, k := range [...]struct{ kind, addr string }{
		{"sms", r.Phone}, {"whatsapp", r.WhatsApp}, {"email", r.Email}, {"telegram", r.Telegram},
	} {
		if k.addr != "" {
			out = append(out, Suppression{Address: SuppressionAddress(k.kind, k.addr), Kind: k.kind})
		}
	}
	return out
}

// SuppressionPaging checks p and returns the page size and the (address,
// kind) the page starts after (both "" for the first page). Stores read
// limit+1 rows; SuppressionPageOf cuts them.
func SuppressionPaging(p SuppressionListParams) (limit int, afterAddr, afterKind string, err error) {
	limit = p.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	if p.Cursor == "" {
		return limit, "", "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(p.Cursor)
	addr, kind, ok := strings.Cut(string(b), "\n")
	if err != nil || !ok || addr == "" || kind == "" || !utf8.Valid(b) {
		return 0, "", "", ErrInvalidCursor
	}
	return limit, addr, kind, nil
}

// SuppressionPageOf makes a page of up to limit entries from rows read
// with one more than the page holds.
func SuppressionPageOf(rows []Suppression, limit int) SuppressionPage {
	if len(rows) > limit {
		last := rows[limit-1]
		return SuppressionPage{Suppressions: rows[:limit],
			NextCursor: base64.RawURLEncoding.EncodeToString([]byte(last.Address + "\n" + last.Kind))}
	}
	return SuppressionPage{Suppressions: rows}
}

// SuppressionFilter is a store's in-memory index of the addresses that
// have at least one suppression entry, so that the dispatcher's lookup for
// a message reads the database only when one of the message's addresses
// is on the list: with an empty list it costs one atomic load. It holds a
// 64-bit hash per address (8 bytes and the map's overhead, not the
// address); a collision only costs a needless read. The store keeps it
// exact: loaded at open, set after each of its own writes, and (for a
// database shared by several instances) after each change another
// instance announces.
type SuppressionFilter struct {
	n    atomic.Int64
	mu   sync.RWMutex
	set  map[uint64]struct{}
	seed maphash.Seed
}

// NewSuppressionFilter returns an empty filter.
func NewSuppressionFilter() *SuppressionFilter {
	return &SuppressionFilter{set: map[uint64]struct{}{}, seed: maphash.MakeSeed()}
}

func (f *SuppressionFilter) hash(address string) uint64 { return maphash.String(f.seed, address) }

// Reset replaces the filter's content with addresses.
func (f *SuppressionFilter) Reset(addresses []string) {
	set := make(map[uint64]struct{}, len(addresses))
	for _, a := range addresses {
		set[f.hash(a)] = struct{}{}
	}
	f.mu.Lock()
	f.set = set
	f.n.Store(int64(len(set)))
	f.mu.Unlock()
}

// Set records whether address has any entry now. Callers serialise their
// write-then-Set sequences, so a stale answer never overwrites a newer one.
func (f *SuppressionFilter) Set(address string, present bool) {
	h := f.hash(address)
	f.mu.Lock()
	if present {
		f.set[h] = struct{}{}
	} else {
		delete(f.set, h)
	}
	f.n.Store(int64(len(f.set)))
	f.mu.Unlock()
}

// Empty reports whether no address has an entry: one atomic load, so a
// store with an empty list answers a lookup without even listing the
// recipient's addresses.
func (f *SuppressionFilter) Empty() bool { return f.n.Load() == 0 }

// MayHave reports whether any of keys' addresses may have an entry.
func (f *SuppressionFilter) MayHave(keys []Suppression) bool {
	if f.n.Load() == 0 || len(keys) == 0 {
		return false
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, k := range keys {
		if _, ok := f.set[f.hash(k.Address)]; ok {
			return true
		}
	}
	return false
}

// Matching keeps the entries of rows whose (Address, Kind) is one of keys:
// a store reads entries by address, and an address on the list for one
// kind does not stop another kind.
func Matching(rows []Suppression, keys []Suppression) []Suppression {
	out := rows[:0]
	for _, r := range rows {
		for _, k := range keys {
			if r.Address == k.Address && r.Kind == k.Kind {
				out = append(out, r)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
