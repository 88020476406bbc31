//go:build unix

package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// A fresh store is private to the gateway's user whatever the umask: the
// database, its -wal and -shm files 0600, the directories it made 0700. Not
// parallel: the umask is the process's.
func TestNewStoreFilesArePrivate(t *testing.T) {
	for _, umask := range []int{0o000, 0o022, 0o077} {
		t.Run(fmt.Sprintf("umask %03o", umask), func(t *testing.T) {
			root := t.TempDir()
			path := filepath.Join(root, "data", "sb", "switchboard.db")
			old := syscall.Umask(umask)
			s, err := Open(t.Context(), path)
			syscall.Umask(old)
			require.NoError(t, err)
			_, _, err = s.Enqueue(t.Context(), newMsg())
			require.NoError(t, err)
			defer func() { require.NoError(t, s.Close()) }()

			for name, want := range map[string]os.FileMode{
				"data": dirMode, "data/sb": dirMode,
				"data/sb/switchboard.db": fileMode, "data/sb/switchboard.db-wal": fileMode, "data/sb/switchboard.db-shm": fileMode,
			} {
				fi, err := os.Stat(filepath.Join(root, name))
				require.NoError(t, err, name)
				require.Equal(t, want, fi.Mode().Perm(), "%s, umask %03o", name, umask)
			}
		})
	}
}

// An existing database keeps the mode its operator gave it.
func TestExistingStoreFileModeKept(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "switchboard.db")
	require.NoError(t, os.WriteFile(path, nil, 0o640))
	require.NoError(t, os.Chmod(path, 0o640))
	s, err := Open(t.Context(), path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
}
