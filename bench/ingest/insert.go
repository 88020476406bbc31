package main

import (
	"database/sql"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v5"
	"modernc.org/sqlite"
)

// serveInsert is the durable floor: the bare server plus the one thing the
// issue's own estimate counts, a durable insert of the request into SQLite
// before the 202. One table (a UUIDv7 key and the request JSON), WAL,
// synchronous=FULL, one writer goroutine committing whatever is queued in
// one transaction (group commit), the same driver and pragmas the gateway's
// store uses. No idempotency, recipient or due index, no dispatch: how
// close the gateway gets to this is how much its own store work costs.
func serveInsert(addr, path string) error {
	_, _ = sqlite.Fdatasync(true)
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=cache_size(-65536)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS messages (id TEXT NOT NULL PRIMARY KEY, request TEXT NOT NULL) WITHOUT ROWID`); err != nil {
		return err
	}
	type insert struct {
		id, request string
		done        chan error
	}
	ops := make(chan *insert, 1024)
	go func() {
		ins, err := db.Prepare(`INSERT INTO messages (id, request) VALUES (?, ?)`)
		if err != nil {
			panic(err)
		}
		batch := make([]*insert, 0, 256)
		for first := range ops {
			batch = append(batch[:0], first)
		drain:
			for len(batch) < cap(batch) {
				select {
				case o := <-ops:
					batch = append(batch, o)
				default:
					break drain
				}
			}
			err := commitInserts(db, ins, func(yield func(id, req string) error) error {
				for _, o := range batch {
					if err := yield(o.id, o.request); err != nil {
						return err
					}
				}
				return nil
			})
			for _, o := range batch {
				o.done <- err
			}
		}
	}()

	e := newBareEcho()
	e.POST("/v1/messages", func(c *echo.Context) error {
		req, data, ok, err := decodeBare(c)
		if !ok {
			return err
		}
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		o := &insert{id: id.String(), request: string(data), done: make(chan error, 1)}
		ops <- o
		if err := <-o.done; err != nil {
			return c.JSON(http.StatusInternalServerError, map[string]string{"error": err.Error()})
		}
		return c.JSON(http.StatusAccepted, bareResponse{
			ID: o.id, Status: "queued", Policy: req.Policy, Route: []string{"whatsapp", "sms"},
		})
	})
	return serveUntilSignal(addr, e)
}

// commitInserts runs every insert rows yields in one transaction.
func commitInserts(db *sql.DB, ins *sql.Stmt, rows func(yield func(id, req string) error) error) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	st := tx.Stmt(ins)
	if err := rows(func(id, req string) error {
		_, err := st.Exec(id, req)
		return err
	}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
