package postgres

import (
	"context"
	"fmt"
	"time"
)

// Cycles in flight, sized to the database rather than the instance.
//
// One instance runs two batch workers: while one cycle waits for its
// COMMIT, the next is read and written, and with a single worker the
// database idled while the gateway decided (BENCHMARKS.md, "One
// transaction per worker cycle"). Several instances on one database
// already keep several cycles in flight between them, and a second
// worker each only cut every instance's cycles smaller: more commits and
// round trips per message on both sides. With three instances on the
// bench, one worker each accepted 1.1-1.7 times what two did.
//
// So each instance counts the instances on its database (their listener
// connections, one per instance, in pg_stat_activity) every
// instancesEvery, and its spare worker runs cycles only while it is
// alone. A parked spare looks again every instancesEvery, so an instance
// left alone gets its second worker back within that.

// instancesEvery is how often the instances are counted.
const instancesEvery = 2 * time.Second

// countInstances returns how many instances of this gateway have a
// listener connected to this database, this one included once its
// listener is up.
func (s *Store) countInstances(ctx context.Context) (int, error) {
	name := s.pool.Config().ConnConfig.RuntimeParams["application_name"] + listenerAppSuffix
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, name).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count instances: %w", err)
	}
	return n, nil
}

// watchInstances keeps s.shared up to date: whether other instances
// share the database. An error leaves the last answer (a database that
// does not answer has no cycles to share either).
func (s *Store) watchInstances() {
	t := time.NewTicker(instancesEvery)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(s.ctx, instancesEvery)
		if n, err := s.countInstances(ctx); err == nil {
			s.shared.Store(n > 1)
		}
		cancel()
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// parked reports whether a spare worker should sit out: other instances
// share the database. It waits up to instancesEvery first when it does.
func (s *Store) parked() bool {
	if !s.shared.Load() {
		return false
	}
	t := time.NewTimer(instancesEvery)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
	case <-t.C:
	}
	return true
}
