package postgres

import (
	"context"
	"time"
)

// RenewLeases implements store.Store with one UPDATE: the rows among ids
// that owner still leases get the new lease end; the others are skipped.
func (s *Store) RenewLeases(ctx context.Context, owner string, ids []string, until time.Time) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if owner == "" || len(ids) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `UPDATE messages SET lease_until = $3 WHERE id = ANY($1) AND lease_owner = $2`,
		ids, owner, until)
	if err != nil {
		return 0, s.wrap(err, "renew leases")
	}
	return int(tag.RowsAffected()), nil
}
