package twilio_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"

	"github.com/switchboard-gw/switchboard/channels"
)

// TestWebhookWhatsAppRead: a WhatsApp status callback with
// MessageStatus=read, signed as Twilio signs it (checked with twilio-go's
// own validator), is a read receipt for the message's SID: what
// read-based failover (a policy's read_timeout) waits for. The same
// callback with a bad signature is refused and reports nothing.
func TestWebhookWhatsAppRead(t *testing.T) {
	t.Parallel()
	ch := newChannel(t, channels.WhatsApp, "")
	form := callback("read", "From", "whatsapp:+14155238886", "To", "whatsapp:+15551234567",
		"ChannelPrefix", "whatsapp", "SmsStatus", "read")
	sig := sign(testToken, callbackURL, form)
	params := map[string]string{}
	for k := range form {
		params[k] = form.Get(k)
	}
	validator := client.NewRequestValidator(testToken)
	require.True(t, validator.Validate(callbackURL, params, sig), "signed as Twilio signs")

	resp, receipts, err := ch.Webhook(context.Background(), webhookRequest(callbackURL, form, sig))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.Status)
	require.Len(t, receipts, 1)
	require.Equal(t, channels.ReceiptRead, receipts[0].Status)
	require.Equal(t, "ch", receipts[0].Channel)
	require.Equal(t, "SM0123456789abcdef0123456789abcdef", receipts[0].ProviderID)

	_, receipts, err = ch.Webhook(context.Background(), webhookRequest(callbackURL, form, sign("wrong-token-0123456789abcdef", callbackURL, form)))
	require.ErrorIs(t, err, channels.ErrBadSignature)
	require.Empty(t, receipts)
}
