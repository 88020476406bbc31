package gateway_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
	"github.com/switchboard-gw/switchboard/store/storetest"
)

func TestRetentionPurgesOldMessagesAndFollowsReload(t *testing.T) {
	t.Parallel()
	yml := edit(t, baseConfig, `store: {driver: sqlite, dsn: "%DSN%"}`, `store: {driver: sqlite, dsn: "%DSN%", retention: 720h}`)
	tb := setup(t, yml, false)
	require.NotNil(t, tb.g.Retention, "the SQLite store can purge")
	require.Equal(t, 720*time.Hour, tb.g.Retention.Keep())

	// A message accepted 40 days ago that failed long since, and one sent
	// through the API now.
	ctx := t.Context()
	at := time.Now().Add(-40 * 24 * time.Hour)
	old, _, err := tb.g.Store.Enqueue(ctx, &store.Message{ID: storetest.IDAt(at), Policy: "otp", Route: []string{"sms"},
		To: store.Recipient{Phone: "+15551234567"}, Body: "old", CreatedAt: at, LeaseOwner: "gone", LeaseUntil: time.Now().Add(time.Hour)}) // not the dispatcher's to claim
	require.NoError(t, err)
	require.NoError(t, tb.g.Store.Advance(ctx, &store.Transition{MessageID: old.ID, Owner: "gone",
		Status: store.StatusFailed, LastError: "route exhausted", Now: at}))
	fresh := tb.send(t, otpBody)
	tb.waitMessage(t, fresh, "delivered", func(m map[string]any) bool { return m["status"] == "delivered" })

	// Run's own first round may get there first; either way it goes once.
	_, err = tb.g.Retention.PurgeOnce(ctx)
	require.NoError(t, err)
	status, _ := tb.do(t, http.MethodGet, "/v1/messages/"+old.ID, readKey, "")
	require.Equal(t, http.StatusNotFound, status, "purged")
	status, _ = tb.do(t, http.MethodGet, "/v1/messages/"+fresh, readKey, "")
	require.Equal(t, http.StatusOK, status, "kept")
	require.Equal(t, "1", tb.metric(t, "switchboard_messages_purged_total"))

	// store.retention applies on reload, without a restart.
	tb.write(t, edit(t, yml, "retention: 720h", "retention: 48h"))
	status, out := tb.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Equal(t, 48*time.Hour, tb.g.Retention.Keep())
	tb.write(t, baseConfig)
	status, out = tb.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Zero(t, tb.g.Retention.Keep(), "removed: keep everything")
}
