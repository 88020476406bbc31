package telegram_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/telegram"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/internal/testpeers"
)

func TestMain(m *testing.M) { os.Exit(testpeers.Main(m)) }

// buildFromYAML loads a whole config whose only channel is "tg" (declared on
// line 6, its type on line 7, its options from line 8) and builds that channel. env stands in
// for the process environment.
func buildFromYAML(t *testing.T, options string, env map[string]string) (channels.Channel, error) {
	t.Helper()
	c, err := config.ParseWithEnv("sb.yaml", []byte(`auth:
  keys: [{name: ops, key: "0123456789abcdef0123456789abcdef", role: admin}]
policies:
  - {name: default, route: [tg]}
channels:
  tg:
    type: telegram
`+options), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	require.Len(t, c.Channels, 1)
	ch, err := channels.Build(c.Channels[0], channels.Deps{})
	if ch != nil {
		t.Cleanup(func() { require.NoError(t, ch.(channels.Closer).Close()) })
	}
	return ch, err
}

func TestBuildFromConfig(t *testing.T) {
	t.Parallel()
	const envToken = "987654:env-secret_value"
	tests := []struct {
		name    string
		options string
		wantErr string // the exact text, every problem in file order
	}{
		{
			name:    "token only",
			options: "    token: \"123:abc\"\n",
		},
		{
			name: "every option",
			options: `    kind: telegram
    token: ${TG_TOKEN}
    parse_mode: MarkdownV2
    disable_notification: true
    endpoint: http://127.0.0.1:8081/tg-proxy/
`,
		},
		{
			name:    "missing token",
			options: "    parse_mode: HTML\n",
			wantErr: "sb.yaml:6: channels.tg.token: required: the bot token from @BotFather, e.g. token: ${TELEGRAM_TOKEN}",
		},
		{
			name:    "token of the wrong shape",
			options: "    token: ${TG_BAD}\n",
			wantErr: "sb.yaml:8: channels.tg.token: does not look like a bot token: want <bot id>:<secret> (digits, a colon, then letters, digits, _ or -)",
		},
		{
			name:    "unknown key",
			options: "    token: \"123:abc\"\n    parsemode: HTML\n",
			wantErr: `sb.yaml:9: channels.tg: unknown key "parsemode"; did you mean "parse_mode"?`,
		},
		{
			name:    "legacy Markdown",
			options: "    token: \"123:abc\"\n    parse_mode: Markdown\n",
			wantErr: `sb.yaml:9: channels.tg.parse_mode: unknown parse mode "Markdown" (want MarkdownV2 or HTML, or leave it out for plain text)`,
		},
		{
			name:    "kind of another family",
			options: "    kind: sms\n    token: \"123:abc\"\n",
			wantErr: `sb.yaml:6: channels.tg.kind: type telegram delivers to kind telegram, not "sms" (kind may be left out)`,
		},
		{
			name:    "endpoint without a scheme",
			options: "    token: \"123:abc\"\n    endpoint: api.telegram.org\n",
			wantErr: `sb.yaml:9: channels.tg.endpoint: bad URL "api.telegram.org": the scheme must be http or https`,
		},
		{
			name:    "endpoint with a query",
			options: "    token: \"123:abc\"\n    endpoint: https://proxy.example/?x=1\n",
			wantErr: `sb.yaml:9: channels.tg.endpoint: bad URL "https://proxy.example/?x=1": no query or fragment: methods are called at <endpoint>/bot<token>/<method>`,
		},
		{
			name:    "endpoint with credentials",
			options: "    token: \"123:abc\"\n    endpoint: https://user:pw@proxy.example\n",
			wantErr: `sb.yaml:9: channels.tg.endpoint: bad URL: credentials in the URL are not supported`,
		},
		{
			name:    "every problem at once",
			options: "    endpoint: \"\"\n    parse_mode: html\n    disable_notification: maybe\n",
			wantErr: "sb.yaml:6: channels.tg.token: required: the bot token from @BotFather, e.g. token: ${TELEGRAM_TOKEN}\n" +
				"sb.yaml:8: channels.tg.endpoint: must not be empty (leave it out for https://api.telegram.org)\n" +
				`sb.yaml:9: channels.tg.parse_mode: unknown parse mode "html" (want MarkdownV2 or HTML, or leave it out for plain text)` + "\n" +
				`sb.yaml:10: channels.tg.disable_notification: expected true or false, got "maybe"`,
		},
	}
	env := map[string]string{"TG_TOKEN": envToken, "TG_BAD": "not-a-token-but-secret"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch, err := buildFromYAML(t, tt.options, env)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				require.NotContains(t, err.Error(), env["TG_BAD"])
				require.NotContains(t, err.Error(), envToken)
				return
			}
			require.NoError(t, err)
			tg, ok := ch.(*telegram.Channel)
			require.True(t, ok)
			require.Equal(t, "tg", tg.Name())
			require.Equal(t, channels.Telegram, tg.Kind())
		})
	}
}

// A channel built in code (no YAML) is validated too, and New never quotes
// the token.
func TestNewValidates(t *testing.T) {
	t.Parallel()
	_, err := telegram.New("tg", telegram.Options{Token: "secret-without-id", Endpoint: telegram.DefaultEndpoint}, channels.Deps{})
	require.ErrorContains(t, err, "token: does not look like a bot token")
	require.False(t, strings.Contains(err.Error(), "secret-without-id"))

	_, err = channels.Build(&config.Channel{Name: "tg", Type: "telegram", File: "sb.yaml", Line: 3}, channels.Deps{})
	require.EqualError(t, err, "sb.yaml:3: channels.tg.token: required: the bot token from @BotFather, e.g. token: ${TELEGRAM_TOKEN}")
}
