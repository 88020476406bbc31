package whatsappcloud_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
)

// messagesNotification is a "messages" webhook as Meta's reference shows
// it ("Text messages webhook reference"), with one text message, one
// quick-reply button tap and one image, plus a status in the same POST.
func messagesNotification(phoneID string) []byte {
	return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{
  "messaging_product":"whatsapp",
  "metadata":{"display_phone_number":"15550100000","phone_number_id":"` + phoneID + `"},
  "contacts":[{"profile":{"name":"Ana"},"wa_id":"15551234567"}],
  "messages":[
    {"from":"15551234567","id":"wamid.IN1","timestamp":"1749416383","type":"text","text":{"body":"Stop"},
     "context":{"from":"15550100000","id":"wamid.OUT1"}},
    {"from":"15551234567","id":"wamid.IN2","timestamp":"1749416390","type":"button","button":{"payload":"unsub","text":"UNSUBSCRIBE"}},
    {"from":"15551234567","id":"wamid.IN3","timestamp":"1749416399","type":"image","image":{"id":"1","mime_type":"image/jpeg"}}
  ],
  "statuses":[{"id":"wamid.OUT2","status":"delivered","timestamp":"1749416400","recipient_id":"15551234567"}]
}}]}]}`)
}

func TestWebhookInboundMessages(t *testing.T) {
	t.Parallel()
	ch := newChannel(t, testOptions("http://127.0.0.1:1"))
	body := messagesNotification(testPhoneID)
	resp, rs, in, err := ch.WebhookInbound(t.Context(), postReq(body, sign(testAppSecret, body)))
	require.NoError(t, err)
	require.Equal(t, 200, resp.Status)
	require.Len(t, rs, 1, "statuses in the same POST are still receipts")
	require.Equal(t, "wamid.OUT2", rs[0].ProviderID)
	require.Equal(t, []channels.Inbound{
		{Channel: "wa", From: "+15551234567", To: "+15550100000", Text: "Stop", ProviderID: "wamid.IN1",
			ReplyToProviderID: "wamid.OUT1", ReceivedAt: time.Unix(1749416383, 0).UTC()},
		{Channel: "wa", From: "+15551234567", To: "+15550100000", Text: "UNSUBSCRIBE", ProviderID: "wamid.IN2",
			ReceivedAt: time.Unix(1749416390, 0).UTC()},
	}, in, "text and button messages; the image has no text")
}

func TestWebhookInboundOtherNumberAndBadSignature(t *testing.T) {
	t.Parallel()
	ch := newChannel(t, testOptions("http://127.0.0.1:1"))
	other := messagesNotification("999999999999999")
	_, _, in, err := ch.WebhookInbound(t.Context(), postReq(other, sign(testAppSecret, other)))
	require.NoError(t, err)
	require.Empty(t, in, "another number's messages are not this channel's")

	body := messagesNotification(testPhoneID)
	for name, sig := range map[string]string{"none": "", "other secret": sign("not-the-secret", body), "garbage": "sha256=zz"} {
		_, rs, in, err := ch.WebhookInbound(t.Context(), postReq(body, sig))
		require.True(t, errors.Is(err, channels.ErrBadSignature), "%s: %v", name, err)
		require.Empty(t, rs)
		require.Empty(t, in)
	}
}
