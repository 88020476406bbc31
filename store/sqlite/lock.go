package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrLocked: the database file is in use by another process (another
// switchboard serve). Test with errors.Is; a *LockedError says who.
var ErrLocked = errors.New("database in use by another process")

// LockedError is Open's error when another process holds the database's
// lock file (path + ".lock").
type LockedError struct {
	Path     string // the database file
	LockPath string // its lock file
	PID      int    // the holder's pid as written in the lock file; 0 if unreadable
}

func (e *LockedError) Error() string {
	holder := "a process whose pid is not recorded"
	if e.PID > 0 {
		holder = "pid " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("database %s is in use by another process (%s holds the lock %s); run one gateway per SQLite file",
		e.Path, holder, e.LockPath)
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// parsePID reads the pid a lock holder wrote; 0 if there is none.
func parsePID(b []byte) int {
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Leases on rows the dispatcher or the callback sender may be working on.
// The messages one walks only the rows that can be leased and still matter
// (the partial due index), not the whole table; the callbacks one is left
// to the planner (the pending callbacks' partial index serves it).
const (
	// The owner is kept so Claim still reports the message Reclaimed: the
	// dead process may have been mid-send, and the next attempt is flagged
	// ambiguous as when a lease runs out. Only the lease's end moves.
	expireMessageLeasesSQL = `UPDATE messages SET lease_until = 0
			WHERE id IN (SELECT id FROM messages INDEXED BY messages_due
				WHERE next_at IS NOT NULL AND lease_owner <> '')`
	releaseCallbackLeasesSQL = `UPDATE callbacks SET lease_owner = '', lease_until = NULL
			WHERE status = 'pending' AND lease_owner <> ''`
)

// releaseAbandoned ends every lease in the file, on the write connection
// before the writer starts. Open holds the lock file, so no other live
// process uses the database: every lease was taken by a process that is
// gone (killed, crashed, power lost), and its messages are due now instead
// of when the lease would have run out. Not synced on its own: should this
// process crash before a later commit syncs it, the next start releases
// them again.
func releaseAbandoned(ctx context.Context, conn *sql.Conn) (Released, error) {
	start := time.Now()
	var r Released
	res, err := conn.ExecContext(ctx, expireMessageLeasesSQL)
	if err != nil {
		return r, fmt.Errorf("release abandoned message leases: %w", err)
	}
	r.Messages, _ = res.RowsAffected()
	res, err = conn.ExecContext(ctx, releaseCallbackLeasesSQL)
	if err != nil {
		return r, fmt.Errorf("release abandoned callback leases: %w", err)
	}
	r.Callbacks, _ = res.RowsAffected()
	r.Took = time.Since(start)
	return r, nil
}

// Released says what Open found left by a previous process.
type Released struct {
	Messages  int64         // message leases ended (those messages are due now)
	Callbacks int64         // status callback leases ended
	Took      time.Duration // how long the release took
}

// Released returns the leases Open released (see releaseAbandoned).
func (s *Store) Released() Released { return s.released }
