package postgres

import (
	"context"
	"time"

	"github.com/switchboard-gw/switchboard/store"
)

var _ store.LeaseKeeper = (*Store)(nil)

// renewSQL locks the rows in id order, as the group commit locks
// Advances (txn_batch.go): an UPDATE over many rows locks them in scan
// order, which could deadlock with a batch holding some of them.
const renewSQL = `UPDATE messages SET lease_until = $3 WHERE id IN (
		SELECT id FROM messages WHERE id = ANY($1) AND lease_owner = $2 ORDER BY id FOR UPDATE)
	AND lease_owner = $2`

// RenewLeases implements store.Store with one UPDATE: the rows among ids
// that owner still leases get the new lease end; the others are skipped.
func (s *Store) RenewLeases(ctx context.Context, owner string, ids []string, until time.Time) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if owner == "" || len(ids) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, renewSQL, ids, owner, until)
	if err != nil {
		return 0, s.wrap(err, "renew leases")
	}
	return int(tag.RowsAffected()), nil
}

// RenewLeaseIDs implements store.LeaseKeeper: RenewLeases's UPDATE,
// returning the ids it renewed, so the dispatcher stops working on a
// message whose lease another instance took.
func (s *Store) RenewLeaseIDs(ctx context.Context, owner string, ids []string, until time.Time) ([]string, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if owner == "" || len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, renewSQL+` RETURNING id`, ids, owner, until)
	if err != nil {
		return nil, s.wrap(err, "renew leases")
	}
	renewed := make([]string, 0, len(ids))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, s.wrap(err, "renew leases")
		}
		renewed = append(renewed, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "renew leases")
	}
	return renewed, nil
}
