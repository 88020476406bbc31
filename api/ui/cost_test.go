package ui_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUIMessageCost: the message page shows the total cost per currency
// and each attempt's cost with where it came from.
func TestUIMessageCost(t *testing.T) {
	t.Parallel()
	u := startUI(t)
	u.signIn(readKey)
	// Two UCS-2 segments on SMS (the only address): 2 x 0.0079.
	id := u.send(`{"to":{"phone":"+15551234567"},"body":"` + longUCS2 + `","tags":["otp"]}`)
	u.waitStatus(id, "delivered")
	r := u.get("/ui/messages/" + id)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, `<dt>Cost</dt><dd class="cost">0.0158 USD</dd>`)
	require.Contains(t, r.body, `0.0158 USD <span class="muted">(declared in config)</span>`)

	// The channels page shows what the channel spent today and its budget.
	r = u.get("/ui/channels")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, `<dd>0.0158 USD · budget 50 USD: 49.9842 left</dd>`)
}

// longUCS2 is 80 characters with one outside GSM-7: two UCS-2 segments.
const longUCS2 = "Ваш код 123456. Никому его не сообщайте, даже если вам звонят из банка. Спасибо!!"
