package twilio

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/channeltest"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/internal/testpeers"
)

// Requests Prism rejects by the spec. Options validation keeps such
// requests from being built through config, so these tests alter a built
// channel directly: they check that Prism's rejections reach the caller
// through twilio-go's error path with the right class.
func TestPrismRejections(t *testing.T) {
	t.Parallel()
	prism := testpeers.Prism(t)
	const (
		sid   = "AC0123456789abcdef0123456789abcdef"
		token = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	)
	tests := []struct {
		name      string
		alter     func(*Channel)
		wantClass channels.Class
		wantErr   string
	}{
		{
			// twilio-go sends no Authorization without a token; the spec
			// requires basic auth.
			name: "no credentials: 401", alter: func(c *Channel) { c.authToken = "" },
			wantClass: channels.Misconfigured, wantErr: "twilio: create message: HTTP 401: Unauthorized (misconfigured)",
		},
		{
			// The spec's AccountSid path parameter is ^AC[0-9a-fA-F]{32}$.
			name: "account SID off the spec's pattern: 422", alter: func(c *Channel) { c.accountSID = "ACnothex" },
			wantClass: channels.Permanent, wantErr: "twilio: create message: HTTP 422: Unprocessable Entity (permanent)",
		},
		{
			// MessagingServiceSid is ^MG[0-9a-fA-F]{32}$.
			name: "messaging service SID off the spec's pattern: 422", alter: func(c *Channel) { c.from, c.serviceSID = "", "MG1" },
			wantClass: channels.Permanent, wantErr: "twilio: create message: HTTP 422: Unprocessable Entity (permanent)",
		},
		{
			// StatusCallback has format uri.
			name: "status callback that is not a URI: 422", alter: func(c *Channel) { c.callback = "not a uri" },
			wantClass: channels.Permanent, wantErr: "twilio: create message: HTTP 422: Unprocessable Entity (permanent)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := New("sms", channels.SMS, Options{AccountSID: sid, AuthToken: config.Secret(token),
				From: "+15005550006", Endpoint: prism}, channels.Deps{PublicURL: "https://sb.example.com"})
			require.NoError(t, err)
			defer c.Close()
			tt.alter(c)
			_, err = c.Send(context.Background(), &channels.Message{To: "+15551234567", Body: "hi"})
			channeltest.RequireClass(t, tt.wantClass, err)
			channeltest.RequireNoSecret(t, []string{token}, err)
			require.EqualError(t, err, tt.wantErr)
			if tt.wantClass == channels.Misconfigured {
				perr := c.Probe(context.Background())
				channeltest.RequireClass(t, channels.Misconfigured, perr)
				require.EqualError(t, perr, "twilio: fetch account: HTTP 401: Unauthorized (misconfigured)")
			}
		})
	}
}

// Prism checks ContentSid against the spec's ^HX[0-9a-fA-F]{32}$, so the
// templated send TestPrismSendContentTemplate makes is really checked; a
// SID off the pattern (options validation keeps it out of config) is 422.
func TestPrismRejectsContentSID(t *testing.T) {
	t.Parallel()
	prism := testpeers.Prism(t)
	const token = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	c, err := New("whatsapp", channels.WhatsApp, Options{AccountSID: "AC0123456789abcdef0123456789abcdef", AuthToken: config.Secret(token),
		From: "whatsapp:+14155238886", Endpoint: prism, ContentSID: "HX0123456789abcdef0123456789abcdef",
		ContentVariables: map[string]string{"1": "metadata.code"}}, channels.Deps{})
	require.NoError(t, err)
	defer c.Close()
	c.content.sid = "HX1"
	_, err = c.Send(context.Background(), &channels.Message{To: "+15551234567", Body: "hi", Metadata: map[string]string{"code": "123456"}})
	channeltest.RequireClass(t, channels.Permanent, err)
	channeltest.RequireNoSecret(t, []string{token}, err)
	require.EqualError(t, err, "twilio: create message: HTTP 422: Unprocessable Entity (permanent)")
}

// twilio-go refuses credentials that are not letters and digits without
// sending anything; options validation keeps them out of config.
func TestCredentialsRefusedLocally(t *testing.T) {
	t.Parallel()
	c, err := New("sms", channels.SMS, Options{AccountSID: "AC0123456789abcdef0123456789abcdef",
		AuthToken: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", From: "+15005550006", Endpoint: "http://127.0.0.1:1"}, channels.Deps{})
	require.NoError(t, err)
	defer c.Close()
	c.authToken = "tok-en"
	_, err = c.Send(context.Background(), &channels.Message{To: "+15551234567", Body: "hi"})
	channeltest.RequireClass(t, channels.Misconfigured, err)
	channeltest.RequireNoSecret(t, []string{"tok-en"}, err)
	require.EqualError(t, err, "twilio: create message: refused by twilio-go before sending: Invalid Password. Illegal chars (misconfigured 21224)")
}
