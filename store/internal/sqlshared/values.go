package sqlshared

import (
	"context"
	"fmt"

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

// SchemaVersionSQL reads the newest schema version recorded in
// schema_migrations (0 for none).
const SchemaVersionSQL = `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`

// PendingMigrations reads the database's schema version with
// readVersion(SchemaVersionSQL) and returns the migrations of ms it has
// not applied yet (store.PendingMigrations).
func PendingMigrations(ms []store.Migration, readVersion func(query string) (int, error)) ([]store.Migration, error) {
	current, err := readVersion(SchemaVersionSQL)
	if err != nil {
		return nil, fmt.Errorf("read schema version: %w", err)
	}
	return store.PendingMigrations(ms, current)
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
	pending, err := PendingMigrations(ms, func(q string) (current int, err error) {
		err = queryRow(ctx, q).Scan(&current)
		return current, err
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
