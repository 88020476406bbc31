//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package sqlite

import "os"

// lockDatabase takes no lock where flock is not available: a second gateway
// on the same file is not detected there, and since a lease in the file may
// then be a live process's, Open does not release leases at start (they
// run out as usual). Run one gateway per SQLite file.
func lockDatabase(string) (*os.File, error) { return nil, nil }
