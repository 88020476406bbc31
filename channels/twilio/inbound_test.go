package twilio_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"

	"github.com/switchboard-gw/switchboard/channels"
)

// incomingSMS is Twilio's incoming message webhook for an SMS, with the
// parameters Twilio documents for it ("Twilio's request to your incoming
// message Webhook URL").
func incomingSMS(body string) url.Values {
	return url.Values{
		"MessageSid":          {"SM1f0e8ae6ade43cb3c0ce4525424e404f"},
		"SmsSid":              {"SM1f0e8ae6ade43cb3c0ce4525424e404f"},
		"SmsMessageSid":       {"SM1f0e8ae6ade43cb3c0ce4525424e404f"},
		"AccountSid":          {testSID},
		"MessagingServiceSid": {"MG0123456789abcdef0123456789abcdef"},
		"From":                {"+15551234567"},
		"To":                  {"+15005550006"},
		"Body":                {body},
		"NumMedia":            {"0"},
		"NumSegments":         {"1"},
		"SmsStatus":           {"received"},
		"ApiVersion":          {"2010-04-01"},
		"FromCountry":         {"US"},
		"FromState":           {"CA"},
		"FromCity":            {"SAN FRANCISCO"},
		"FromZip":             {"94103"},
		"ToCountry":           {"US"},
	}
}

// incomingWhatsApp is the same webhook for a WhatsApp message: addresses
// carry the "whatsapp:" prefix, and WaId, ProfileName and, on a reply,
// OriginalRepliedMessageSender/Sid are added.
func incomingWhatsApp(body, repliedSid string) url.Values {
	f := url.Values{
		"MessageSid":       {"SM2f0e8ae6ade43cb3c0ce4525424e404f"},
		"SmsSid":           {"SM2f0e8ae6ade43cb3c0ce4525424e404f"},
		"SmsMessageSid":    {"SM2f0e8ae6ade43cb3c0ce4525424e404f"},
		"AccountSid":       {testSID},
		"From":             {"whatsapp:+15551234567"},
		"To":               {"whatsapp:+15005550006"},
		"Body":             {body},
		"NumMedia":         {"0"},
		"NumSegments":      {"1"},
		"SmsStatus":        {"received"},
		"ApiVersion":       {"2010-04-01"},
		"ProfileName":      {"Ana"},
		"WaId":             {"15551234567"},
		"MessageType":      {"text"},
		"ChannelMetadata":  {`{"type":"whatsapp","data":{"context":{"ProfileName":"Ana","WaId":"15551234567"}}}`},
		"ReferralNumMedia": {"0"},
	}
	if repliedSid != "" {
		f.Set("OriginalRepliedMessageSender", "whatsapp:+15005550006")
		f.Set("OriginalRepliedMessageSid", repliedSid)
	}
	return f
}

func TestWebhookInbound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kind channels.Kind
		form url.Values
		want channels.Inbound
	}{
		{name: "sms", kind: channels.SMS, form: incomingSMS("Yes, 3pm works"), want: channels.Inbound{
			From: "+15551234567", To: "+15005550006", Text: "Yes, 3pm works", ProviderID: "SM1f0e8ae6ade43cb3c0ce4525424e404f"}},
		{name: "sms STOP", kind: channels.SMS, form: incomingSMS("STOP"), want: channels.Inbound{
			From: "+15551234567", To: "+15005550006", Text: "STOP", ProviderID: "SM1f0e8ae6ade43cb3c0ce4525424e404f"}},
		{name: "whatsapp", kind: channels.WhatsApp, form: incomingWhatsApp("hello", ""), want: channels.Inbound{
			From: "+15551234567", To: "+15005550006", Text: "hello", ProviderID: "SM2f0e8ae6ade43cb3c0ce4525424e404f"}},
		{name: "whatsapp reply", kind: channels.WhatsApp, form: incomingWhatsApp("thanks", "SM0123456789abcdef0123456789abcdef"), want: channels.Inbound{
			From: "+15551234567", To: "+15005550006", Text: "thanks", ProviderID: "SM2f0e8ae6ade43cb3c0ce4525424e404f",
			ReplyToProviderID: "SM0123456789abcdef0123456789abcdef"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch := newChannel(t, tt.kind, "")
			sig := sign(testToken, callbackURL, tt.form)
			params := map[string]string{}
			for k, v := range tt.form {
				params[k] = v[0]
			}
			validator := client.NewRequestValidator(testToken)
			require.True(t, validator.Validate(callbackURL, params, sig),
				"the test request is signed as twilio-go's validator expects")

			resp, receipts, in, err := ch.WebhookInbound(context.Background(), webhookRequest(callbackURL, tt.form, sig))
			require.NoError(t, err)
			require.Empty(t, receipts)
			require.Equal(t, http.StatusOK, resp.Status)
			require.Equal(t, "text/xml; charset=utf-8", resp.ContentType)
			require.Equal(t, `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`, string(resp.Body), "empty TwiML: no auto-reply")
			require.Len(t, in, 1)
			require.WithinDuration(t, time.Now(), in[0].ReceivedAt, time.Minute)
			in[0].ReceivedAt = time.Time{}
			tt.want.Channel = "ch"
			require.Equal(t, tt.want, in[0])
		})
	}
}

func TestWebhookInboundStatusCallbacksStillReceipts(t *testing.T) {
	t.Parallel()
	ch := newChannel(t, channels.SMS, "")
	form := callback("delivered")
	_, receipts, in, err := ch.WebhookInbound(context.Background(), webhookRequest(callbackURL, form, sign(testToken, callbackURL, form)))
	require.NoError(t, err)
	require.Empty(t, in)
	require.Len(t, receipts, 1)
	require.Equal(t, channels.ReceiptDelivered, receipts[0].Status)
}

func TestWebhookInboundBadSignature(t *testing.T) {
	t.Parallel()
	ch := newChannel(t, channels.SMS, "")
	form := incomingSMS("STOP")
	for name, sig := range map[string]string{
		"none":          "",
		"other token":   sign("0123456789abcdef0123456789abcdef", callbackURL, form),
		"other url":     sign(testToken, "https://evil.example.com/v1/webhooks/twilio?channel=ch", form),
		"altered param": sign(testToken, callbackURL, incomingSMS("START")),
	} {
		_, _, in, err := ch.WebhookInbound(context.Background(), webhookRequest(callbackURL, form, sig))
		require.True(t, errors.Is(err, channels.ErrBadSignature), "%s: %v", name, err)
		require.Empty(t, in, name)
	}
}
