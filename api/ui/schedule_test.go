package ui_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestUIScheduledMessage: a scheduled message's page says when it goes
// out and why; the status filter finds it; an admin cancels it with the
// page's button (read keys see none and are refused), and a delivered
// message has no button.
func TestUIScheduledMessage(t *testing.T) {
	t.Parallel()
	u := startUI(t)
	at := time.Now().Add(3 * time.Hour).UTC().Format(time.RFC3339)
	id := u.send(`{"to":{"phone":"+15551234567"},"body":"Reminder","policy":"otp","send_at":"` + at + `"}`)

	u.signIn(readKey)
	r := u.get("/ui/messages/" + id)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, "◴</span> scheduled")
	require.Contains(t, r.body, "Goes out")
	require.Contains(t, r.body, "once the time it was scheduled for (send_at) comes")
	require.NotContains(t, r.body, "Cancel this message", "read keys see no cancel button")
	r = u.get("/ui/?status=scheduled")
	require.Contains(t, r.body, id)
	token := u.csrf()
	r = u.req("POST", "/ui/messages/"+id+"/cancel", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusForbidden, r.status)

	u.signIn(adminKey)
	r = u.get("/ui/messages/" + id)
	require.Contains(t, r.body, "Cancel this message")
	token = u.csrf()
	r = u.req("POST", "/ui/messages/"+id+"/cancel", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	require.Equal(t, "canceled", u.api("GET", "/v1/messages/"+id, readKey, "")["status"])
	r = u.get("/ui/messages/" + id)
	require.Contains(t, r.body, "⊘</span> canceled")
	require.NotContains(t, r.body, "Cancel this message")

	now := u.send(`{"to":{"phone":"+15551234567"},"body":"Now","policy":"otp"}`)
	u.waitStatus(now, "delivered")
	r = u.req("POST", "/ui/messages/"+now+"/cancel", url.Values{"csrf": {token}})
	require.Equal(t, http.StatusConflict, r.status)
	require.Contains(t, r.body, "Too late to cancel")
}
