package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/internal/sqlshared"
)

// Migrations are numbered files (0001_init.sql, ...). Never edit one that
// has shipped: add the next number instead, since applied versions are not
// re-run.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

func migrations() ([]store.Migration, error) {
	return store.ReadMigrations(migrationFiles, "migrations")
}

const createSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
)`

// migrate applies the migrations not yet recorded in schema_migrations, all
// in one IMMEDIATE transaction so two processes opening the same new file
// cannot both apply them.
func migrate(ctx context.Context, conn *sql.Conn) (err error) {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin migrations: %w", err)
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	err = sqlshared.Migrate(ctx, ms, createSchemaMigrations, conn.ExecContext, conn.QueryRowContext, func(m store.Migration) error {
		if _, err := conn.ExecContext(ctx, m.SQL); err != nil {
			return err
		}
		_, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.Version, m.Name, time.Now().UnixNano())
		return err
	})
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit migrations: %w", err)
	}
	return nil
}
