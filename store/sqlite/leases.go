package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// renewLeasesSQL extends the leases owner still holds among the given ids
// (a JSON array): one statement, each id a primary key seek.
const renewLeasesSQL = `UPDATE messages SET lease_until = ?1
	WHERE lease_owner = ?2 AND lease_owner <> '' AND id IN (SELECT value FROM json_each(?3))`

// RenewLeases implements store.Store: one write op for all ids.
func (s *Store) RenewLeases(ctx context.Context, owner string, ids []string, until time.Time) (int, error) {
	if owner == "" || len(ids) == 0 {
		return 0, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return 0, fmt.Errorf("renew leases: %w", err)
	}
	v, err := s.do(ctx, func(w *writer) (any, error) {
		res, err := w.conn.ExecContext(context.Background(), renewLeasesSQL, until.UnixNano(), owner, string(list))
		if err != nil {
			return nil, fmt.Errorf("renew leases: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("renew leases: %w", err)
		}
		return int(n), nil
	})
	if err != nil {
		return 0, err
	}
	return v.(int), nil
}
