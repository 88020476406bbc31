package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The database holds message bodies (one-time codes) and recipients: only
// the gateway's user may read it. SQLite creates the -wal and -shm files
// with the database file's permission bits, so a database created 0600
// keeps its WAL private too.
const (
	fileMode = 0o600
	dirMode  = 0o700
)

// createPrivate creates the directories above path that do not exist
// (0700) and the database file if it does not exist (0600). Each is
// chmod'ed after creation, so the umask cannot loosen (or, for an odd
// umask such as 0277, break) them. An existing file or directory is left
// as the operator made it.
func createPrivate(path string) error {
	if err := mkdirPrivate(filepath.Dir(path)); err != nil {
		return fmt.Errorf("create store directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil
	case err != nil:
		return fmt.Errorf("create store file: %w", err)
	}
	err = f.Chmod(fileMode)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create store file: %w", err)
	}
	return nil
}

// mkdirPrivate is os.MkdirAll(dir, 0700) that also chmods the directories
// it created.
func mkdirPrivate(dir string) error {
	if dir == "" || dir == "." {
		return nil
	}
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := mkdirPrivate(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	} else if err != nil {
		return nil // created meanwhile by someone else: theirs
	}
	return os.Chmod(dir, dirMode)
}
