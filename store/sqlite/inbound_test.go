package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// TestInboundMigrationKeepsCallbacks: 0008 rebuilds the callbacks table
// (message_id becomes nullable for inbound messages' callbacks); a
// database at an earlier schema keeps its callbacks, ids and all, and they
// are claimed, listed and cascaded as before.
func TestInboundMigrationKeepsCallbacks(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "old.db")
	ms, err := migrations()
	require.NoError(t, err)
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	require.NoError(t, err)
	_, err = db.Exec(createSchemaMigrations)
	require.NoError(t, err)
	for _, m := range ms {
		if m.Version >= 8 {
			break
		}
		_, err := db.Exec(m.SQL)
		require.NoError(t, err, m.Name)
		_, err = db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)", m.Version, m.Name)
		require.NoError(t, err)
	}
	now := time.Now().UnixNano()
	_, err = db.Exec(`INSERT INTO messages (id, idem_scope, status, callback_url, created_at, updated_at) VALUES ('m1', 'shop', 'sent', 'https://app.example.com/cb', ?1, ?1)`, now)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO callbacks (id, message_id, url, scope, payload, status, created_at, next_at) VALUES (41, 'm1', 'https://app.example.com/cb', 'shop', '{"id":"m1"}', 'pending', ?1, ?1)`, now)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s := openAt(t, path)
	cbs, err := s.Callbacks(t.Context(), "m1")
	require.NoError(t, err)
	require.Len(t, cbs, 1)
	require.Equal(t, int64(41), cbs[0].ID)
	require.Equal(t, "shop", cbs[0].Scope)
	require.JSONEq(t, `{"id":"m1"}`, string(cbs[0].Payload))

	in, _, err := s.SaveInbound(t.Context(), &store.InboundMessage{Channel: "sms", Kind: "sms", From: "+15551234567", Text: "hi"}, "https://app.example.com/in")
	require.NoError(t, err)
	claimed, err := s.ClaimCallbacks(t.Context(), "o", time.Minute, 10, time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, claimed, 2)
	require.Equal(t, []string{"m1", in.ID}, []string{claimed[0].MessageID, claimed[1].MessageID})
	require.Greater(t, claimed[1].ID, int64(41), "ids go on from the old table's")

	// A row belongs to a message or an inbound message, never neither.
	_, err = s.w.conn.ExecContext(t.Context(), `INSERT INTO callbacks (url, payload, created_at) VALUES ('u', '{}', 0)`)
	require.Error(t, err)
	// Deleting the message still takes its callbacks with it.
	_, err = s.w.conn.ExecContext(t.Context(), `DELETE FROM messages WHERE id = 'm1'`)
	require.NoError(t, err)
	cbs, err = s.Callbacks(t.Context(), "m1")
	require.NoError(t, err)
	require.Empty(t, cbs)
}
