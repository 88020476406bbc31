package whatsappcloud_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/channeltest"
	"github.com/switchboard-gw/switchboard/channels/whatsappcloud"
	"github.com/switchboard-gw/switchboard/config"
)

// buildFromYAML loads a whole config whose only channel is "wa" (declared
// on line 6, its options from line 8) and builds that channel. env is the
// environment ${VAR}s resolve from.
func buildFromYAML(t *testing.T, options string, env map[string]string) (channels.Channel, error) {
	t.Helper()
	c, err := config.ParseWithEnv("sb.yaml", []byte(`auth:
  keys: [{name: ops, key: "0123456789abcdef0123456789abcdef", role: admin}]
policies:
  - {name: default, route: [wa]}
channels:
  wa:
    type: whatsapp-cloud
`+options), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	require.Len(t, c.Channels, 1)
	return channels.Build(c.Channels[0], channels.Deps{})
}

func TestBuildFromConfig(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t)
	env := map[string]string{"WA_TOKEN": testToken, "WA_APP_SECRET": testAppSecret, "WA_VERIFY": testVerifyToken}
	tests := []struct {
		name    string
		options string
		wantErr string // the exact text, every problem in file order
	}{
		{
			name: "every option",
			options: `    kind: whatsapp
    phone_number_id: "106540352242922"
    token: "${WA_TOKEN}"
    app_secret: "${WA_APP_SECRET}"
    verify_token: "${WA_VERIFY}"
    api_version: v26.0
    endpoint: ` + f.srv.URL + "\n",
		},
		{
			// The fake only answers /v26.0/..., so a send proves the default.
			name:    "defaults, phone number id as a YAML number",
			options: "    phone_number_id: 106540352242922\n    token: ${WA_TOKEN}\n    endpoint: " + f.srv.URL + "/\n",
		},
		{
			name:    "nothing given",
			options: "",
			wantErr: "sb.yaml:6: channels.wa.phone_number_id: required (or phone_number_ids by country): the business phone number's id from WhatsApp Manager > API Setup\n" +
				"sb.yaml:6: channels.wa.token: required: a system-user access token with whatsapp_business_messaging permission",
		},
		{
			name:    "unknown key",
			options: "    phone_number_id: \"106540352242922\"\n    tokn: ${WA_TOKEN}\n",
			wantErr: "sb.yaml:6: channels.wa.token: required: a system-user access token with whatsapp_business_messaging permission\n" +
				`sb.yaml:9: channels.wa: unknown key "tokn"; did you mean "token"?`,
		},
		{
			name:    "wrong kind",
			options: "    kind: sms\n    phone_number_id: \"106540352242922\"\n    token: ${WA_TOKEN}\n",
			wantErr: `sb.yaml:6: channels.wa.kind: type whatsapp-cloud delivers to whatsapp, not "sms" (leave kind out)`,
		},
		{
			name: "every bad value at once",
			options: `    phone_number_id: "+1 555 0100"
    token: ${WA_TOKEN}
    api_version: "21.0"
    endpoint: graph.facebook.com
`,
			wantErr: "sb.yaml:8: channels.wa.phone_number_id: must be digits only: the Graph id from WhatsApp Manager > API Setup, not the phone number\n" +
				`sb.yaml:10: channels.wa.api_version: must look like "v26.0", got "21.0"` + "\n" +
				"sb.yaml:11: channels.wa.endpoint: must be an http or https URL such as https://graph.facebook.com",
		},
		{
			name:    "endpoint with a query",
			options: "    phone_number_id: \"1\"\n    token: ${WA_TOKEN}\n    endpoint: https://graph.facebook.com/?access_token=x\n",
			wantErr: "sb.yaml:10: channels.wa.endpoint: must be a base URL without user, query or fragment",
		},
		{
			name:    "wrong type",
			options: "    phone_number_id: [1]\n    token: ${WA_TOKEN}\n",
			wantErr: "sb.yaml:8: channels.wa.phone_number_id: expected a string, got a list",
		},
		{
			// A secret put in the wrong key must not be shown.
			name:    "token in phone_number_id",
			options: "    phone_number_id: ${WA_TOKEN}\n    token: ${WA_TOKEN}\n",
			wantErr: "sb.yaml:8: channels.wa.phone_number_id: must be digits only: the Graph id from WhatsApp Manager > API Setup, not the phone number",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch, err := buildFromYAML(t, tt.options, env)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				require.Nil(t, ch)
				channeltest.RequireNoSecret(t, secrets, err)
				return
			}
			require.NoError(t, err)
			c, ok := ch.(*whatsappcloud.Cloud)
			require.True(t, ok)
			require.Equal(t, "wa", c.Name())
			require.Equal(t, channels.WhatsApp, c.Kind())
			res, err := c.Send(t.Context(), msg("+15551234567", "hi"))
			require.NoError(t, err)
			require.NotEmpty(t, res.ProviderID)
		})
	}
}

func TestBuildDoesNoNetworkIO(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t)
	_, err := buildFromYAML(t, "    phone_number_id: \"1\"\n    token: x\n    endpoint: "+f.srv.URL+"\n", nil)
	require.NoError(t, err)
	_, hits := f.received()
	require.Zero(t, hits)
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	o := testOptions("ftp://example.com")
	_, err := whatsappcloud.New("wa", o, channels.Deps{})
	require.EqualError(t, err, "endpoint: must be an http or https URL such as https://graph.facebook.com")

	require.Equal(t, whatsappcloud.Options{APIVersion: "v26.0", Endpoint: "https://graph.facebook.com"}, whatsappcloud.DefaultOptions())
}
