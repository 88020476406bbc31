package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

// The opt-out list (store.SuppressionStore). One process owns a SQLite
// file, so the in-memory filter is exact: loaded at open and set after each
// write, under suppMu so two writes to one address cannot set it out of
// order.

// loadSuppressionFilter fills the filter from the table (at open).
func (s *Store) loadSuppressionFilter(ctx context.Context) error {
	rows, err := s.read.QueryContext(ctx, `SELECT DISTINCT address FROM suppressions`)
	if err != nil {
		return fmt.Errorf("load the suppression list: %w", err)
	}
	defer rows.Close()
	var addrs []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return fmt.Errorf("load the suppression list: %w", err)
		}
		addrs = append(addrs, a)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load the suppression list: %w", err)
	}
	s.suppressed.Reset(addrs)
	return nil
}

// Suppress implements store.SuppressionStore.
func (s *Store) Suppress(ctx context.Context, sp store.Suppression) error {
	sp, err := sp.Normalized()
	if err != nil {
		return err
	}
	at := sp.CreatedAt
	s.suppMu.Lock()
	defer s.suppMu.Unlock()
	_, err = s.do(ctx, func(w *writer) (any, error) {
		_, err := w.conn.ExecContext(context.Background(), `INSERT INTO suppressions (address, kind, reason, source, created_at)
			VALUES (?1, ?2, ?3, ?4, ?5)
			ON CONFLICT (address, kind) DO UPDATE SET reason = excluded.reason, source = excluded.source,
				created_at = excluded.created_at`,
			sp.Address, sp.Kind, sp.Reason, string(sp.Source), at.UnixNano())
		if err != nil {
			return nil, fmt.Errorf("suppress: %w", err)
		}
		return nil, nil
	})
	if err != nil {
		return err
	}
	s.suppressed.Set(sp.Address, true)
	return nil
}

// Unsuppress implements store.SuppressionStore.
func (s *Store) Unsuppress(ctx context.Context, address, kind string) (bool, error) {
	address = store.SuppressionAddress(kind, address)
	s.suppMu.Lock()
	defer s.suppMu.Unlock()
	type answer struct{ removed, left bool }
	v, err := s.do(ctx, func(w *writer) (any, error) {
		var a answer
		res, err := w.conn.ExecContext(context.Background(), `DELETE FROM suppressions WHERE address = ? AND kind = ?`, address, kind)
		if err != nil {
			return nil, fmt.Errorf("unsuppress: %w", err)
		}
		n, _ := res.RowsAffected()
		a.removed = n > 0
		// Other kinds of the same address keep it in the filter.
		if err := w.conn.QueryRowContext(context.Background(), `SELECT EXISTS (SELECT 1 FROM suppressions WHERE address = ?)`, address).Scan(&a.left); err != nil {
			return nil, fmt.Errorf("unsuppress: %w", err)
		}
		return a, nil
	})
	if err != nil {
		return false, err
	}
	a := v.(answer)
	s.suppressed.Set(address, a.left)
	return a.removed, nil
}

const suppCols = `address, kind, reason, source, created_at`

func scanSuppressions(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}) ([]store.Suppression, error) {
	var out []store.Suppression
	for rows.Next() {
		var sp store.Suppression
		var src string
		var at int64
		if err := rows.Scan(&sp.Address, &sp.Kind, &sp.Reason, &src, &at); err != nil {
			return nil, err
		}
		sp.Source, sp.CreatedAt = store.SuppressionSource(src), time.Unix(0, at).UTC()
		out = append(out, sp)
	}
	return out, rows.Err()
}

// ListSuppressions implements store.SuppressionStore: a walk of the
// primary key from the cursor on.
func (s *Store) ListSuppressions(ctx context.Context, p store.SuppressionListParams) (store.SuppressionPage, error) {
	if s.isClosed.Load() {
		return store.SuppressionPage{}, store.ErrClosed
	}
	limit, afterAddr, afterKind, err := store.SuppressionPaging(p)
	if err != nil {
		return store.SuppressionPage{}, err
	}
	var where []string
	var args []any
	if p.Address != "" {
		where, args = append(where, "address = ?"), append(args, store.SuppressionAddress(p.Kind, p.Address))
	}
	if p.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, p.Kind)
	}
	if afterAddr != "" {
		where, args = append(where, "(address, kind) > (?, ?)"), append(args, afterAddr, afterKind)
	}
	q := `SELECT ` + suppCols + ` FROM suppressions`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY address, kind LIMIT ?"
	rows, err := s.read.QueryContext(ctx, q, append(args, limit+1)...)
	if err != nil {
		return store.SuppressionPage{}, fmt.Errorf("list suppressions: %w", err)
	}
	defer rows.Close()
	out, err := scanSuppressions(rows)
	if err != nil {
		return store.SuppressionPage{}, fmt.Errorf("list suppressions: %w", err)
	}
	return store.SuppressionPageOf(out, limit), nil
}

// SuppressionsFor implements store.SuppressionStore; it reads only when
// the filter says an address of to may be on the list.
func (s *Store) SuppressionsFor(ctx context.Context, to store.Recipient) ([]store.Suppression, error) {
	if s.suppressed.Empty() {
		return nil, nil
	}
	keys := to.SuppressionKeys()
	if !s.suppressed.MayHave(keys) {
		return nil, nil
	}
	if s.isClosed.Load() {
		return nil, store.ErrClosed
	}
	ph := strings.Repeat("?, ", len(keys))
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k.Address
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+suppCols+` FROM suppressions WHERE address IN (`+ph[:len(ph)-2]+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("look up suppressions: %w", err)
	}
	defer rows.Close()
	out, err := scanSuppressions(rows)
	if err != nil {
		return nil, fmt.Errorf("look up suppressions: %w", err)
	}
	return store.Matching(out, keys), nil
}
