package ui_test

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUIMessageOptOuts: the message page shows the recipient's opt-outs
// (address, kind, reason, source, time), and the timeline says in words
// that a channel was skipped because they opted out.
func TestUIMessageOptOuts(t *testing.T) {
	t.Parallel()
	u := startUI(t)
	u.api("POST", "/v1/suppressions", adminKey, `{"address":"+15551230042","kind":"whatsapp","reason":"STOP"}`)
	u.api("POST", "/v1/suppressions", adminKey, `{"address":"Ana@Example.com","kind":"email","reason":"asked by phone"}`)
	optedOut := u.send(`{"to":{"phone":"+15551230042","whatsapp":"+15551230042","email":"ana@example.com"},"body":"code 1","tags":["otp"]}`)
	u.waitStatus(optedOut, "delivered")
	other := u.send(`{"to":{"whatsapp":"+15551230043"},"body":"code 2","tags":["otp"]}`)
	u.waitStatus(other, "delivered")

	u.signIn(readKey)
	r := u.get("/ui/messages/" + optedOut)
	require.Equal(t, http.StatusOK, r.status)
	b := r.body
	require.Contains(t, b, "Recipient's opt-outs")
	require.Regexp(t, regexp.MustCompile(`WhatsApp was skipped: the recipient opted out of it \(STOP, api, since 20[0-9-]+T[0-9:]+Z\), so we sent it by SMS\.`), b)
	rows := regexp.MustCompile(`<tr><td data-label="Address"><div>([^<]*)</div></td><td data-label="Kind"><div>([^<]*)</div></td><td data-label="Reason"><div>([^<]*)</div></td><td data-label="Source"><div>([^<]*)</div></td><td data-label="Since"><div><time`).FindAllStringSubmatch(b, -1)
	require.Len(t, rows, 2, "both of the recipient's entries, on two of their addresses")
	require.Equal(t, []string{"&#43;15551230042", "whatsapp", "STOP", "api"}, rows[0][1:])
	require.Equal(t, []string{"ana@example.com", "email", "asked by phone", "api"}, rows[1][1:])

	b = u.get("/ui/messages/" + other).body
	require.Contains(t, b, "The recipient has not opted out of any channel.")
}
