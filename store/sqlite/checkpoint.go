package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The checkpointer copies committed pages from the write-ahead log into
// the database file, on a connection of its own, so the writer never does.
//
// Why: SQLite checkpoints inside COMMIT by default, once the WAL holds
// 1,000 pages. The committing connection then copies those pages and
// fsyncs the database file before COMMIT returns. Under load (a few
// pages of WAL per message) that is several times a second, each a stall
// of the one goroutine every write waits for: every request queued
// behind that batch waited for the copy and the fsync. The writer runs
// with wal_autocheckpoint=0 instead and this goroutine checkpoints every
// checkpointEvery, side by side with the writer.
//
// PASSIVE never waits for the writer or a reader: it copies what no open
// read snapshot still needs and leaves the rest for the next round. Once a
// round has copied everything, the writer's next transaction starts the
// WAL over from its beginning, so the file stays about one round's worth
// of writes long instead of growing. Durability is unchanged: a page is
// in the database file only after it was committed and synced in the WAL,
// and the checkpoint syncs the database file before it records its
// progress, so a crash mid-checkpoint redoes it from the WAL.

// checkpointEvery is how often the checkpointer runs. At 4,000 messages
// a second that is a few hundred pages a round, about what one automatic
// checkpoint copied.
const checkpointEvery = 100 * time.Millisecond

type checkpointer struct {
	db     *sql.DB
	every  time.Duration
	round  func(context.Context, *sql.DB) error // passiveCheckpoint; fault tests replace it
	fail   func(error) error                    // the writer's fail, for a storage failure
	cancel context.CancelFunc
	done   chan struct{}
}

func startCheckpointer(db *sql.DB, every time.Duration, round func(context.Context, *sql.DB) error, fail func(error) error) *checkpointer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, every: every, round: round, fail: fail, cancel: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.round(ctx, c.db); err != nil && ctx.Err() == nil && storageFailure(err) {
			// After a failed write or fsync of the database file the
			// kernel may have dropped the pages, and a later round could
			// record them as copied: the store stops as it does for a
			// failed WAL sync (see writer.fail). Other errors (a busy
			// lock held by a backup tool) leave the pages in the WAL for
			// the next round.
			_ = c.fail(err)
			return
		}
	}
}

func passiveCheckpoint(ctx context.Context, db *sql.DB) error {
	_, _, err := checkpoint(ctx, db)
	return err
}

// checkpoint runs one PASSIVE checkpoint: frames is the WAL's length in
// pages, copied how many of them are in the database file now.
func checkpoint(ctx context.Context, db *sql.DB) (frames, copied int, err error) {
	var busy int
	if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		return 0, 0, fmt.Errorf("checkpoint write-ahead log: %w", err)
	}
	return frames, copied, nil
}

// stop ends the checkpointer and closes its connection; the writer's
// connection, closed after it, checkpoints what is left.
func (c *checkpointer) stop() error {
	c.cancel()
	<-c.done
	return c.db.Close()
}
