package sqlshared

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/switchboard-gw/switchboard/store"
)

// NullIfEmpty is a recipient column's value: NULL for none keeps empty
// recipients out of the partial recipient indexes.
func NullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// OrEmpty stores a nil list as an empty one.
func OrEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// AppliedVersionsSQL lists the schema versions recorded in
// schema_migrations, as "1,2,10" ("" for none), in a form both SQLite and
// PostgreSQL read.
const AppliedVersionsSQL = `SELECT COALESCE(string_agg(CAST(version AS TEXT), ',' ORDER BY version), '') FROM schema_migrations`

// PendingMigrations reads the versions the database applied with
// readApplied(AppliedVersionsSQL) and returns the migrations of ms it has
// not applied yet (store.PendingMigrations).
func PendingMigrations(ms []store.Migration, readApplied func(query string) (string, error)) ([]store.Migration, error) {
	list, err := readApplied(AppliedVersionsSQL)
	if err != nil {
		return nil, fmt.Errorf("read applied schema versions: %w", err)
	}
	var applied []int
	for f := range strings.SplitSeq(list, ",") {
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("read applied schema versions: %q: %w", f, err)
		}
		applied = append(applied, v)
	}
	return store.PendingMigrations(ms, applied)
}

// Migrate applies the migrations of ms that the schema has not recorded
// yet, oldest first, through a driver's connection: its exec and queryRow
// methods (*sql.Conn's ExecContext and QueryRowContext, pgx's Exec and
// QueryRow), inside whatever lock or transaction the driver holds so that
// two processes never apply one migration twice. createTable creates
// schema_migrations (version, name, applied_at) in the driver's dialect if
// it is not there; apply runs one migration and records it there.
func Migrate[R any, Row Scanner](ctx context.Context, ms []store.Migration, createTable string,
	exec func(ctx context.Context, query string, args ...any) (R, error),
	queryRow func(ctx context.Context, query string, args ...any) Row,
	apply func(m store.Migration) error) error {
	if _, err := exec(ctx, createTable); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	pending, err := PendingMigrations(ms, func(q string) (applied string, err error) {
		err = queryRow(ctx, q).Scan(&applied)
		return applied, err
	})
	if err != nil {
		return err
	}
	for _, m := range pending {
		if err := apply(m); err != nil {
			return fmt.Errorf("apply migration %s: %w", m.Name, err)
		}
	}
	return nil
}
