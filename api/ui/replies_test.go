package ui_test

import (
	"context"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/store"
)

// TestUIMessageReplies: the message page shows what the recipient sent to
// the gateway's channels since the message was accepted, newest first,
// from any of their addresses, flagging a reply to this very message; an
// older message, another person's, and one with no replies show none.
func TestUIMessageReplies(t *testing.T) {
	t.Parallel()
	g, base, _ := startUIGateway(t)
	u := newUIClient(t, base)
	ctx := context.Background()
	save := func(channel, kind, from, text, replyTo string, at time.Time) {
		t.Helper()
		_, _, err := g.Store.SaveInbound(ctx, &store.InboundMessage{Channel: channel, Kind: kind, From: from, Text: text,
			ReplyToProviderID: replyTo, ReceivedAt: at}, "")
		require.NoError(t, err)
	}

	id := u.send(`{"to":{"phone":"+15551230050","whatsapp":"+15551230051"},"body":"code 1","tags":["otp"]}`)
	m := u.waitStatus(id, "delivered")
	wa := m["attempts"].([]any)[0].(map[string]any)
	require.Equal(t, "whatsapp", wa["channel"])
	other := u.send(`{"to":{"whatsapp":"+15551230052"},"body":"code 2","tags":["otp"]}`)
	u.waitStatus(other, "delivered")

	now := time.Now()
	save("sms", "sms", "+15551230050", "who is this?", "", now.Add(-2*time.Hour)) // before the message: not shown
	save("sms", "sms", "+15551230050", "STOP", "", now.Add(time.Second))
	save("whatsapp", "whatsapp", "+15551230051", "thanks, got it", wa["provider_id"].(string), now.Add(2*time.Second))
	save("whatsapp", "whatsapp", "+15551239999", "someone else", "", now.Add(3*time.Second))

	u.signIn(readKey)
	r := u.get("/ui/messages/" + id)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.body, "Replies from the recipient")
	rows := regexp.MustCompile(`<tr><td data-label="Received"><div><time[^>]*>[^<]*</time></div></td><td data-label="Channel"><div>([^<]*)</div></td><td data-label="From"><div>([^<]*)</div></td><td data-label="Text"><div>(.*?)</div></td></tr>`).
		FindAllStringSubmatch(r.body, -1)
	require.Len(t, rows, 2, r.body)
	require.Equal(t, []string{"WhatsApp", "&#43;15551230051", `thanks, got it <span class="tag">replies to this message</span>`}, rows[0][1:])
	require.Equal(t, []string{"SMS", "&#43;15551230050", "STOP"}, rows[1][1:])

	b := u.get("/ui/messages/" + other).body
	require.Contains(t, b, "The recipient has sent nothing to our channels since this message was accepted.")
}
