package store

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered schema file of a store (0001_init.sql, ...).
// Applied versions are recorded and never re-run: never edit a migration
// that has shipped, add the next number instead.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// ReadMigrations reads the *.sql files of dir in fsys (a store's embedded
// migrations) in version order, refusing badly named files and versions
// used twice.
func ReadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must start with a positive number and '_'", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share a version", ms[i-1].Name, ms[i].Name)
		}
	}
	return ms, nil
}

// IsFallback reports whether channel, the one a message went out on, is
// not the first of its route.
func IsFallback(channel string, route []string) bool {
	return channel != "" && len(route) > 0 && channel != route[0]
}

// SchemaTooNewError: the database was migrated by a newer binary, to a
// schema version this one does not know.
type SchemaTooNewError struct {
	Current int // the database's
	Known   int // the newest migration this binary has
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("database schema version %d is newer than this binary's %d", e.Current, e.Known)
}

// PendingMigrations returns the migrations of ms (in version order) that a
// database whose schema_migrations records the versions applied has not
// applied yet. It goes by the set, not by the newest version: a database
// that ran a build with a later migration before an earlier one existed
// (numbers are taken when a change is written, and changes land in any
// order) still gets the earlier one, instead of skipping it for good. A
// database with a version newer than every migration was written by a
// newer binary: an error.
func PendingMigrations(ms []Migration, applied []int) ([]Migration, error) {
	done := make(map[int]bool, len(applied))
	newest := 0
	for _, v := range applied {
		done[v] = true
		newest = max(newest, v)
	}
	if n := len(ms); n > 0 && newest > ms[n-1].Version {
		return nil, &SchemaTooNewError{Current: newest, Known: ms[n-1].Version}
	}
	var out []Migration
	for _, m := range ms {
		if !done[m.Version] {
			out = append(out, m)
		}
	}
	return out, nil
}
