package twilio_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/twilio"
	"github.com/switchboard-gw/switchboard/config"
)

// env stands in for the process environment.
var env = map[string]string{
	"TWILIO_ACCOUNT_SID": testSID,
	"TWILIO_AUTH_TOKEN":  testToken,
	"BAD_SID":            "ACshort",
	"BAD_TOKEN":          "tok-" + testToken,
}

// buildFromYAML loads a whole config whose only channel is "ch" (declared on
// line 6, its type on line 7, its options from line 8) and builds it.
func buildFromYAML(t *testing.T, typ, options string) (channels.Channel, error) {
	t.Helper()
	c, err := config.ParseWithEnv("sb.yaml", []byte(`auth:
  keys: [{name: ops, key: "0123456789abcdef0123456789abcdef", role: admin}]
policies:
  - {name: default, route: [ch]}
channels:
  ch:
    type: `+typ+`
`+options), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	require.Len(t, c.Channels, 1)
	ch, err := channels.Build(c.Channels[0], channels.Deps{PublicURL: "https://sb.example.com"})
	if ch != nil {
		t.Cleanup(func() { require.NoError(t, ch.(channels.Closer).Close()) })
	}
	return ch, err
}

func TestBuildFromConfig(t *testing.T) {
	t.Parallel()
	const creds = "    account_sid: ${TWILIO_ACCOUNT_SID}\n    auth_token: ${TWILIO_AUTH_TOKEN}\n"
	tests := []struct {
		name     string
		typ      string
		options  string
		wantKind channels.Kind
		wantErr  string // the exact text, every problem in file order
	}{
		{name: "sms from a number", typ: twilio.TypeSMS, options: creds + "    from: \"+15005550006\"\n", wantKind: channels.SMS},
		{name: "sms from an alphanumeric sender ID", typ: twilio.TypeSMS, options: creds + "    from: Switchboard\n", wantKind: channels.SMS},
		{name: "sms from a short code", typ: twilio.TypeSMS, options: creds + "    from: \"55555\"\n", wantKind: channels.SMS},
		{
			name: "whatsapp with every key", typ: twilio.TypeWhatsApp,
			options:  "    kind: whatsapp\n" + creds + "    messaging_service_sid: " + testMG + "\n    endpoint: https://api.dublin.ie1.twilio.com\n",
			wantKind: channels.WhatsApp,
		},
		{name: "whatsapp from a bare number", typ: twilio.TypeWhatsApp, options: creds + "    from: \"+14155238886\"\n", wantKind: channels.WhatsApp},
		{
			name: "missing account_sid", typ: twilio.TypeSMS,
			options: "    auth_token: ${TWILIO_AUTH_TOKEN}\n    from: \"+15005550006\"\n",
			wantErr: "sb.yaml:6: channels.ch.account_sid: required: the Twilio Account SID (AC followed by 32 hex digits)",
		},
		{
			name: "both from and messaging_service_sid", typ: twilio.TypeSMS,
			options: creds + "    from: \"+15005550006\"\n    messaging_service_sid: " + testMG + "\n",
			wantErr: `sb.yaml:11: channels.ch.messaging_service_sid: set either "from" or "messaging_service_sid", not both`,
		},
		{
			name: "neither from nor messaging_service_sid", typ: twilio.TypeSMS, options: creds,
			wantErr: `sb.yaml:6: channels.ch: missing required key "from" (or "messaging_service_sid", or "senders" by country)`,
		},
		{
			name: "bad endpoint URL", typ: twilio.TypeSMS,
			options: creds + "    from: \"+15005550006\"\n    endpoint: api.twilio.com\n",
			wantErr: `sb.yaml:11: channels.ch.endpoint: "api.twilio.com" is not an http(s) base URL such as https://api.dublin.ie1.twilio.com or http://127.0.0.1:4010`,
		},
		{
			name: "endpoint with a query", typ: twilio.TypeSMS,
			options: creds + "    from: \"+15005550006\"\n    endpoint: http://127.0.0.1:4010/?x=1\n",
			wantErr: `sb.yaml:11: channels.ch.endpoint: "http://127.0.0.1:4010/?x=1" is not an http(s) base URL such as https://api.dublin.ie1.twilio.com or http://127.0.0.1:4010`,
		},
		{
			name: "misspelt key", typ: twilio.TypeSMS, options: creds + "    form: \"+15005550006\"\n",
			wantErr: "sb.yaml:6: channels.ch: missing required key \"from\" (or \"messaging_service_sid\", or \"senders\" by country)\n" +
				`sb.yaml:10: channels.ch: unknown key "form"; did you mean "from"?`,
		},
		{
			name: "kind that is not the type's", typ: twilio.TypeSMS, options: "    kind: whatsapp\n" + creds + "    from: \"+15005550006\"\n",
			wantErr: `sb.yaml:6: channels.ch.kind: type twilio-sms delivers to sms, not "whatsapp" (leave kind out)`,
		},
		{
			name: "whatsapp sender on the sms type", typ: twilio.TypeSMS, options: creds + "    from: whatsapp:+14155238886\n",
			wantErr: `sb.yaml:10: channels.ch.from: "whatsapp:+14155238886" is a WhatsApp sender: use type twilio-whatsapp for it`,
		},
		{
			name: "bad whatsapp sender", typ: twilio.TypeWhatsApp, options: creds + "    from: \"+1\"\n",
			wantErr: `sb.yaml:10: channels.ch.from: "+1" is not a WhatsApp sender: want whatsapp:+E164 or +E164, e.g. whatsapp:+14155238886`,
		},
		{
			name: "bad sms sender", typ: twilio.TypeSMS, options: creds + "    from: \"555-1234\"\n",
			wantErr: `sb.yaml:10: channels.ch.from: "555-1234" is not an E.164 number (+14155552671), a short code or an alphanumeric sender ID`,
		},
		{
			name: "bad messaging service SID", typ: twilio.TypeSMS, options: creds + "    messaging_service_sid: MG123\n",
			wantErr: `sb.yaml:10: channels.ch.messaging_service_sid: must be MG followed by 32 hex digits, got "MG123"`,
		},
		{
			name: "every problem at once, values from the environment not shown", typ: twilio.TypeWhatsApp,
			options: "    account_sid: ${BAD_SID}\n    auth_token: ${BAD_TOKEN}\n    from: \"+1\"\n    endpoint: ftp://x\n    retires: 3\n",
			wantErr: "sb.yaml:8: channels.ch.account_sid: must be AC followed by 32 hex digits (got 7 characters; value not shown)\n" +
				"sb.yaml:9: channels.ch.auth_token: must be letters and digits only, as Twilio auth tokens are (value not shown)\n" +
				`sb.yaml:10: channels.ch.from: "+1" is not a WhatsApp sender: want whatsapp:+E164 or +E164, e.g. whatsapp:+14155238886` + "\n" +
				`sb.yaml:11: channels.ch.endpoint: "ftp://x" is not an http(s) base URL such as https://api.dublin.ie1.twilio.com or http://127.0.0.1:4010` + "\n" +
				`sb.yaml:12: channels.ch: unknown key "retires"`,
		},
		{
			name: "auth_token must be a string", typ: twilio.TypeSMS,
			options: "    account_sid: ${TWILIO_ACCOUNT_SID}\n    auth_token: [a, b]\n    from: \"+15005550006\"\n",
			wantErr: "sb.yaml:9: channels.ch.auth_token: expected a string, got a list",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch, err := buildFromYAML(t, tt.typ, tt.options)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				require.NotContains(t, err.Error(), testToken)
				return
			}
			require.NoError(t, err)
			tc, ok := ch.(*twilio.Channel)
			require.True(t, ok)
			require.Equal(t, "ch", tc.Name())
			require.Equal(t, tt.wantKind, tc.Kind())
			require.Equal(t, "https://sb.example.com/v1/webhooks/twilio?channel=ch", tc.StatusCallback())
		})
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	_, err := twilio.New("ch", channels.Email, twilio.Options{}, channels.Deps{})
	require.EqualError(t, err, `twilio: kind "email" is not sms or whatsapp`)

	_, err = twilio.New("ch", channels.SMS, twilio.Options{AuthToken: "x"}, channels.Deps{})
	require.EqualError(t, err, "account_sid: required: the Twilio Account SID (AC followed by 32 hex digits)\n"+
		`missing required key "from" (or "messaging_service_sid", or "senders" by country)`)

	_, err = twilio.New("ch", channels.SMS, twilio.Options{AccountSID: testSID, AuthToken: testToken, From: "+15005550006"},
		channels.Deps{PublicURL: "sb.example.com"})
	require.EqualError(t, err, `twilio: public URL "sb.example.com" is not an absolute http(s) URL`)
}
