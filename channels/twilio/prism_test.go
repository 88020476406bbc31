package twilio_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/channeltest"
	"github.com/switchboard-gw/switchboard/channels/twilio"
	"github.com/switchboard-gw/switchboard/internal/testpeers"
)

// prismSID is the Message SID in the spec's example answer.
const prismSID = "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// Prism serves Twilio's own OpenAPI spec and validates each request against
// it: the AccountSid path pattern, basic auth, required To, the
// MessagingServiceSid pattern and StatusCallback's uri format.
func TestPrismSend(t *testing.T) {
	t.Parallel()
	prism := testpeers.Prism(t)
	const creds = "    account_sid: ${TWILIO_ACCOUNT_SID}\n    auth_token: ${TWILIO_AUTH_TOKEN}\n"
	tests := []struct {
		name, typ, options, to, body string
	}{
		{"sms from a number", twilio.TypeSMS, "    from: \"+15005550006\"\n", "+15551234567", "Your code is 123456"},
		{"sms through a messaging service", twilio.TypeSMS, "    messaging_service_sid: " + testMG + "\n", "+15551234567", strings.Repeat("€", 1600)},
		{"whatsapp from a number", twilio.TypeWhatsApp, "    from: whatsapp:+14155238886\n", "+15551234567", "Your order shipped 📦"},
		{"whatsapp through a messaging service", twilio.TypeWhatsApp, "    messaging_service_sid: " + testMG + "\n", "whatsapp:+15551234567", "hi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch, err := buildFromYAML(t, tt.typ, creds+tt.options+"    endpoint: "+prism+"\n")
			require.NoError(t, err)
			res, err := ch.Send(context.Background(), &channels.Message{ID: "m1", To: tt.to, Body: tt.body})
			require.NoError(t, err)
			require.Equal(t, prismSID, res.ProviderID)
			if tt.typ == twilio.TypeSMS {
				require.Equal(t, twilio.CountSegments(tt.body).String(), res.Info)
			}
			require.NoError(t, ch.Probe(context.Background()))
		})
	}
}

// A templated WhatsApp send (ContentSid and ContentVariables, no Body)
// passes Prism's checks against the spec: ContentSid's HX pattern, To
// required, and nothing the spec does not know.
func TestPrismSendContentTemplate(t *testing.T) {
	t.Parallel()
	prism := testpeers.Prism(t)
	const creds = "    account_sid: ${TWILIO_ACCOUNT_SID}\n    auth_token: ${TWILIO_AUTH_TOKEN}\n"
	const content = "    content_sid: HX0123456789abcdef0123456789abcdef\n"
	tests := []struct{ name, options string }{
		{"from a number, with variables", "    from: whatsapp:+14155238886\n" + content + "    content_variables: {\"1\": metadata.code, \"2\": subject}\n"},
		{"through a messaging service, with variables", "    messaging_service_sid: " + testMG + "\n" + content + "    content_variables: {\"1\": metadata.code}\n"},
		{"without variables", "    from: whatsapp:+14155238886\n" + content},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch, err := buildFromYAML(t, twilio.TypeWhatsApp, creds+tt.options+"    endpoint: "+prism+"\n")
			require.NoError(t, err)
			res, err := ch.Send(context.Background(), &channels.Message{ID: "m1", To: "+15551234567", Body: "Your code is 123456",
				Subject: "Sign-in code", Metadata: map[string]string{"code": "123456"}})
			require.NoError(t, err)
			require.Equal(t, prismSID, res.ProviderID)
		})
	}
}

// An endpoint that points at the wrong place: Prism finds no such route in
// the spec and answers 404, which is the channel's fault, not the message's.
func TestPrismUnknownRouteIsMisconfigured(t *testing.T) {
	t.Parallel()
	prism := testpeers.Prism(t)
	ch, err := buildFromYAML(t, twilio.TypeSMS, "    account_sid: ${TWILIO_ACCOUNT_SID}\n    auth_token: ${TWILIO_AUTH_TOKEN}\n"+
		"    from: \"+15005550006\"\n    endpoint: "+prism+"/not-twilio\n")
	require.NoError(t, err)
	_, sendErr := ch.Send(context.Background(), &channels.Message{To: "+15551234567", Body: "hi"})
	channeltest.RequireClass(t, channels.Misconfigured, sendErr)
	require.EqualError(t, sendErr, "twilio: create message: HTTP 404: Not Found (misconfigured)")
	probeErr := ch.Probe(context.Background())
	channeltest.RequireClass(t, channels.Misconfigured, probeErr)
	channeltest.RequireNoSecret(t, secrets, sendErr, probeErr)
}
