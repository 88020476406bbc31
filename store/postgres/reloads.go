package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Reload broadcasts are rows of config_reloads as well as NOTIFYs: a NOTIFY
// reaches only the connections listening when it is sent, and an instance
// that is starting or whose listener is reconnecting would miss it. Each
// Store remembers the newest generation (seq) it has delivered or taken as
// applied (reloadSeen); whenever its listener (re)connects and on every
// reload NOTIFY it reads the rows above that generation and delivers, once
// for all of them, the newest origin that is not its own.

// keepReloads is how many broadcasts config_reloads keeps. Only an instance
// that missed more than that many cannot tell whose they were: it reloads
// to be safe (prunedOrigin).
const keepReloads = 100

// prunedOrigin is delivered when broadcasts this instance has not seen were
// pruned before it read them: one of them may have been another
// instance's.
const prunedOrigin = "(unknown: missed broadcasts were pruned)"

// BroadcastReload implements store.ReloadBroadcaster: it records the
// broadcast and NOTIFYs in one transaction (the NOTIFY is delivered at
// commit, as SetOverride's), pruning old rows.
func (s *Store) BroadcastReload(ctx context.Context, origin string) error {
	if err := s.check(); err != nil {
		return err
	}
	// Before the row can be seen, so the listener never takes it for
	// another instance's.
	s.ownMu.Lock()
	s.ownOrigins[origin] = struct{}{}
	s.ownMu.Unlock()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One broadcast at a time, so rows become visible in seq order: a
		// reader that sees seq N sees every row below N too, and may take
		// N as its generation. (A bigserial alone is assigned at insert,
		// not at commit.) Readers take no lock and are never blocked.
		if _, err := tx.Exec(ctx, "LOCK TABLE config_reloads IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `WITH b AS (INSERT INTO config_reloads (origin) VALUES ($1) RETURNING seq),
			old AS (DELETE FROM config_reloads WHERE seq <= (SELECT seq FROM b) - $3)
			SELECT pg_notify($2, $1) FROM b`, origin, reloadChannel, keepReloads)
		return err
	})
	return s.wrap(err, "broadcast reload")
}

// ReloadRequested implements store.ReloadBroadcaster. Broadcasts recorded
// before Open count as applied; later ones are delivered even if this store
// was not listening when they were sent.
func (s *Store) ReloadRequested() <-chan string {
	s.startListener()
	return s.reloads
}

// reloadGeneration is the store's current generation: the newest broadcast
// recorded, or 0.
func reloadGeneration(ctx context.Context, q querier) (int64, error) {
	var seq int64
	err := q.QueryRow(ctx, "SELECT COALESCE(MAX(seq), 0) FROM config_reloads").Scan(&seq)
	return seq, err
}

// catchUpReloads reads the broadcasts above reloadSeen and, if one of them
// is another instance's, delivers the newest such origin (coalesced: if a
// delivery is pending, it covers these too). The listener calls it after
// LISTEN, so a broadcast committed after its read is notified.
func (s *Store) catchUpReloads(ctx context.Context, conn *pgx.Conn) error {
	seen := s.reloadSeen.Load()
	rows, err := conn.Query(ctx, `SELECT seq, origin, (SELECT MIN(seq) FROM config_reloads)
		FROM config_reloads WHERE seq > $1 ORDER BY seq`, seen)
	if err != nil {
		return err
	}
	type broadcast struct {
		seq    int64
		origin string
	}
	var (
		missed []broadcast
		oldest int64
	)
	for rows.Next() {
		var b broadcast
		if err := rows.Scan(&b.seq, &b.origin, &oldest); err != nil {
			rows.Close()
			return err
		}
		missed = append(missed, b)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(missed) == 0 {
		return nil
	}
	// Read after the rows: a row of this store's is visible only once
	// BroadcastReload has recorded its origin.
	s.ownMu.Lock()
	origin, foreign := "", false
	for _, b := range missed {
		if _, own := s.ownOrigins[b.origin]; !own {
			origin, foreign = b.origin, true
		}
	}
	s.ownMu.Unlock()
	if !foreign && oldest > seen+1 {
		// The rows between seen and oldest are gone (or their numbers
		// were never used: a rolled-back broadcast): reload to be safe.
		origin, foreign = prunedOrigin, true
	}
	s.reloadSeen.Store(missed[len(missed)-1].seq)
	if foreign {
		select {
		case s.reloads <- origin:
		default: // a reload is already pending: it reads the file after this
		}
	}
	return nil
}
