package sqlite

import (
	"errors"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// storageFailure reports whether err says the disk, not the statement,
// failed: an I/O error, a full disk or a corrupt file. Such an error puts
// the writer in its failed state (writer.fail).
func storageFailure(err error) bool {
	if err == nil {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary code of an extended one
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return true
		}
	}
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENOSPC)
}

// Failed implements store.Failer: the channel is closed once a sync or a
// write of the database failed (see writer.fail).
func (s *Store) Failed() <-chan struct{} { return s.w.failed }

// FailErr implements store.Failer: the *store.FatalError once the store
// failed, else nil.
func (s *Store) FailErr() error { return s.w.failure() }
