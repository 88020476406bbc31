package whatsappcloud_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
)

// readPayload is a status webhook as Meta sends it when the recipient
// opens the message: status "read", no pricing or conversation (those
// come with sent and delivered).
const readPayload = `{
  "object": "whatsapp_business_account",
  "entry": [{
    "id": "102290129340398",
    "changes": [{
      "field": "messages",
      "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "statuses": [{"id": "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI0", "status": "read", "timestamp": "1750264000", "recipient_id": "15551234567"}]
      }
    }]
  }]
}`

// TestWebhookRead: a signed read status is a read receipt at Meta's
// timestamp (the attempt's read_at; read-based failover waits for it); the
// same body with a signature from another secret is refused.
func TestWebhookRead(t *testing.T) {
	t.Parallel()
	body := []byte(readPayload)
	ch := newChannel(t, testOptions("http://127.0.0.1:1"))
	resp, rs, err := ch.Webhook(t.Context(), postReq(body, sign(testAppSecret, body)))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.Status)
	require.Equal(t, []channels.Receipt{{Channel: "wa", ProviderID: "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI0",
		Status: channels.ReceiptRead, At: time.Unix(1750264000, 0)}}, rs)

	_, rs, err = ch.Webhook(t.Context(), postReq(body, sign("not-the-app-secret", body)))
	require.ErrorIs(t, err, channels.ErrBadSignature)
	require.Empty(t, rs)
}
