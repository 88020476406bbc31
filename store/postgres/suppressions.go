package postgres

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-gw/switchboard/store"
)

// The opt-out list (store.SuppressionStore). Each instance keeps an
// in-memory filter of the listed addresses so the dispatcher reads the
// table only for a message whose address is on it. Several instances
// share the table: every change NOTIFYs suppressionsChannel with the
// address, in the writing transaction, and each instance's listener sets
// its filter for that address from the table; when the listener
// (re)connects it reloads the whole filter, since notifications sent while
// it was away are lost. suppMu orders an instance's own write-then-set
// sequences with the listener's.

const suppressionsChannel = "switchboard_suppressions"

// suppQuerier is what the filter's reads need: the pool, or the
// listener's connection.
type suppQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// loadSuppressionFilter fills the filter from the table.
func (s *Store) loadSuppressionFilter(ctx context.Context, q suppQuerier) error {
	rows, err := q.Query(ctx, `SELECT DISTINCT address FROM suppressions`)
	if err != nil {
		return err
	}
	addrs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	s.suppressed.Reset(addrs)
	return nil
}

// suppressionChanged sets the filter for address from the table (another
// instance's change, or our own seen again).
func (s *Store) suppressionChanged(ctx context.Context, q suppQuerier, address string) error {
	s.suppMu.Lock()
	defer s.suppMu.Unlock()
	var left bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM suppressions WHERE address = $1)`, address).Scan(&left); err != nil {
		return err
	}
	s.suppressed.Set(address, left)
	return nil
}

// Suppress implements store.SuppressionStore.
func (s *Store) Suppress(ctx context.Context, sp store.Suppression) error {
	if err := s.check(); err != nil {
		return err
	}
	sp, err := sp.Normalized()
	if err != nil {
		return err
	}
	at := sp.CreatedAt
	s.suppMu.Lock()
	defer s.suppMu.Unlock()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO suppressions (address, kind, reason, source, created_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (address, kind) DO UPDATE SET reason = excluded.reason, source = excluded.source,
				created_at = excluded.created_at`,
			sp.Address, sp.Kind, sp.Reason, string(sp.Source), micro(at)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, suppressionsChannel, sp.Address)
		return err
	})
	if err != nil {
		return s.wrap(err, "suppress")
	}
	s.suppressed.Set(sp.Address, true)
	return nil
}

// Unsuppress implements store.SuppressionStore.
func (s *Store) Unsuppress(ctx context.Context, address, kind string) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	address = store.SuppressionAddress(kind, address)
	s.suppMu.Lock()
	defer s.suppMu.Unlock()
	var removed, left bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM suppressions WHERE address = $1 AND kind = $2`, address, kind)
		if err != nil {
			return err
		}
		removed = tag.RowsAffected() > 0
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM suppressions WHERE address = $1)`, address).Scan(&left); err != nil {
			return err
		}
		if removed {
			_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, suppressionsChannel, address)
		}
		return err
	})
	if err != nil {
		return false, s.wrap(err, "unsuppress")
	}
	s.suppressed.Set(address, left)
	return removed, nil
}

const suppCols = `address, kind, reason, source, created_at`

func collectSuppressions(rows pgx.Rows) ([]store.Suppression, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Suppression, error) {
		var sp store.Suppression
		var src string
		err := r.Scan(&sp.Address, &sp.Kind, &sp.Reason, &src, &sp.CreatedAt)
		sp.Source, sp.CreatedAt = store.SuppressionSource(src), sp.CreatedAt.UTC()
		return sp, err
	})
}

// ListSuppressions implements store.SuppressionStore: a walk of the
// primary key from the cursor on.
func (s *Store) ListSuppressions(ctx context.Context, p store.SuppressionListParams) (store.SuppressionPage, error) {
	if err := s.check(); err != nil {
		return store.SuppressionPage{}, err
	}
	limit, afterAddr, afterKind, err := store.SuppressionPaging(p)
	if err != nil {
		return store.SuppressionPage{}, err
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if p.Address != "" {
		where = append(where, "address = "+arg(store.SuppressionAddress(p.Kind, p.Address)))
	}
	if p.Kind != "" {
		where = append(where, "kind = "+arg(p.Kind))
	}
	if afterAddr != "" {
		where = append(where, "(address, kind) > ("+arg(afterAddr)+", "+arg(afterKind)+")")
	}
	q := `SELECT ` + suppCols + ` FROM suppressions`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY address, kind LIMIT " + arg(limit+1)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return store.SuppressionPage{}, s.wrap(err, "list suppressions")
	}
	out, err := collectSuppressions(rows)
	if err != nil {
		return store.SuppressionPage{}, s.wrap(err, "list suppressions")
	}
	return store.SuppressionPageOf(out, limit), nil
}

// SuppressionsFor implements store.SuppressionStore; it reads only when
// the filter says an address of to may be on the list.
func (s *Store) SuppressionsFor(ctx context.Context, to store.Recipient) ([]store.Suppression, error) {
	// Other instances' changes reach the filter through the listener.
	s.startListener()
	if s.suppressed.Empty() {
		return nil, nil
	}
	keys := to.SuppressionKeys()
	if !s.suppressed.MayHave(keys) {
		return nil, nil
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	addrs := make([]string, len(keys))
	for i, k := range keys {
		addrs[i] = k.Address
	}
	rows, err := s.pool.Query(ctx, `SELECT `+suppCols+` FROM suppressions WHERE address = ANY($1)`, addrs)
	if err != nil {
		return nil, s.wrap(err, "look up suppressions")
	}
	out, err := collectSuppressions(rows)
	if err != nil {
		return nil, s.wrap(err, "look up suppressions")
	}
	return store.Matching(out, keys), nil
}
