package smtp_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/smtp"
	"github.com/switchboard-gw/switchboard/config"
)

// buildFromYAML loads a whole config whose only channel is "email"
// (declared on line 6, type on line 7, its options from line 8) and builds it.
func buildFromYAML(t *testing.T, options string) (channels.Channel, error) {
	t.Helper()
	t.Setenv("SB_TEST_SMTP_PASS", testPass)
	c, err := config.Parse("sb.yaml", []byte(`auth:
  keys: [{name: ops, key: "0123456789abcdef0123456789abcdef", role: admin}]
policies:
  - {name: default, route: [email]}
channels:
  email:
    type: smtp
`+options))
	require.NoError(t, err)
	require.Len(t, c.Channels, 1)
	return channels.Build(c.Channels[0], channels.Deps{})
}

func TestBuildFromConfig(t *testing.T) {
	// Not parallel: t.Setenv.
	tests := []struct {
		name    string
		options string
		want    smtp.Options // checked when wantErr is ""
		wantErr string       // the exact text, every problem in file order
	}{
		{
			name:    "defaults",
			options: "    host: smtp.example.com\n    from: alerts@example.com\n",
			want: smtp.Options{Host: "smtp.example.com", Port: 587, From: "alerts@example.com",
				TLS: smtp.TLSMandatory},
		},
		{
			name:    "ssl defaults to port 465",
			options: "    host: smtp.example.com\n    from: alerts@example.com\n    tls: ssl\n",
			want: smtp.Options{Host: "smtp.example.com", Port: 465, From: "alerts@example.com",
				TLS: smtp.TLSSSL},
		},
		{
			name: "every option",
			options: `    kind: email
    host: smtp.example.com
    port: 2525
    username: sb
    password: "${SB_TEST_SMTP_PASS}"
    auth: cram-md5
    from: "Switchboard <alerts@example.com>"
    reply_to: support@example.com
    tls: opportunistic
    tls_skip_verify: true
    helo: gw1.example.com
`,
			want: smtp.Options{Host: "smtp.example.com", Port: 2525, Username: "sb", Password: testPass,
				Auth: smtp.AuthCRAMMD5, From: "Switchboard <alerts@example.com>", ReplyTo: "support@example.com",
				TLS: smtp.TLSOpportunistic, TLSSkipVerify: true, HELO: "gw1.example.com"},
		},
		{
			name: "username picks auth auto; endpoint replaces port",
			options: `    host: smtp.example.com
    endpoint: 127.0.0.1:2525
    username: sb
    password: pw
    from: alerts@example.com
`,
			want: smtp.Options{Host: "smtp.example.com", Endpoint: "127.0.0.1:2525", Username: "sb", Password: "pw",
				Auth: smtp.AuthAuto, From: "alerts@example.com", TLS: smtp.TLSMandatory},
		},
		{
			name:    "missing host and from",
			options: "    port: 25\n",
			wantErr: "sb.yaml:6: channels.email: missing required key \"host\"\n" +
				"sb.yaml:6: channels.email: missing required key \"from\"",
		},
		{
			name:    "unknown key",
			options: "    host: smtp.example.com\n    from: alerts@example.com\n    pasword: x\n",
			wantErr: `sb.yaml:10: channels.email: unknown key "pasword"; did you mean "password"?`,
		},
		{
			name:    "wrong kind",
			options: "    kind: sms\n    host: smtp.example.com\n    from: alerts@example.com\n",
			wantErr: `sb.yaml:6: channels.email.kind: type smtp delivers email: kind must be email or left out, got "sms"`,
		},
		{
			name: "every problem at once",
			options: `    host: smtp.example.com:25
    port: 70000
    from: not an address
    reply_to: "@@"
    tls: starttls
    auth: xoauth2
    username: sb
    helo: "two words"
`,
			wantErr: `sb.yaml:8: channels.email.host: want a host name or IP address without port or scheme, got "smtp.example.com:25"` + "\n" +
				`sb.yaml:9: channels.email.port: must be between 1 and 65535, got 70000` + "\n" +
				`sb.yaml:10: channels.email.from: not an RFC 5322 address: "not an address"` + "\n" +
				`sb.yaml:11: channels.email.reply_to: not an RFC 5322 address: "@@"` + "\n" +
				`sb.yaml:12: channels.email.tls: unknown tls policy "starttls" (want one of mandatory, opportunistic, ssl, none)` + "\n" +
				`sb.yaml:13: channels.email.auth: unknown auth mechanism "xoauth2" (want one of plain, login, cram-md5, scram-sha-256, auto)` + "\n" +
				`sb.yaml:14: channels.email.username: needs "password" too` + "\n" +
				`sb.yaml:15: channels.email.helo: want a domain name or address literal, got "two words"`,
		},
		{
			name: "conflicting keys",
			options: `    host: smtp.example.com
    from: alerts@example.com
    port: 25
    endpoint: 127.0.0.1:2525
    tls: none
    tls_skip_verify: true
    password: pw
    auth: plain
`,
			wantErr: `sb.yaml:10: channels.email.port: set either port or endpoint, not both` + "\n" +
				`sb.yaml:13: channels.email.tls_skip_verify: has no effect with tls: none` + "\n" +
				`sb.yaml:14: channels.email.password: needs "username" too` + "\n" +
				`sb.yaml:15: channels.email.auth: needs "username" and "password"`,
		},
		{
			name:    "bad endpoint",
			options: "    host: smtp.example.com\n    from: alerts@example.com\n    endpoint: localhost\n",
			wantErr: `sb.yaml:10: channels.email.endpoint: want "host:port", got "localhost"`,
		},
		{
			name: "a key that fails to decode is not also missing",
			options: `    host: [a, b]
    from: alerts@example.com
    port: twenty-five
`,
			wantErr: "sb.yaml:8: channels.email.host: expected a string, got a list\n" +
				`sb.yaml:10: channels.email.port: expected an integer, got "twenty-five"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := buildFromYAML(t, tt.options)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			s, ok := ch.(*smtp.Channel)
			require.True(t, ok)
			require.Equal(t, "email", s.Name())
			require.Equal(t, channels.Email, s.Kind())
			got := s.Options()
			if tt.want.HELO == "" {
				require.NotEmpty(t, got.HELO, "HELO defaults to the host name")
				got.HELO = ""
			}
			require.Equal(t, tt.want, got)
		})
	}
}

// Secrets from the environment never show in option errors.
func TestBuildErrorsHideSecrets(t *testing.T) {
	_, err := buildFromYAML(t, "    host: smtp.example.com\n    from: alerts@example.com\n    password: \"${SB_TEST_SMTP_PASS}\"\n")
	require.EqualError(t, err, `sb.yaml:10: channels.email.password: needs "username" too`)
	require.NotContains(t, err.Error(), testPass)
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	_, err := smtp.New("email", smtp.Options{From: "alerts@example.com"})
	require.EqualError(t, err, `missing required key "host"`)
	_, err = smtp.New("email", smtp.Options{Host: "smtp.example.com", From: "alerts@example.com", TLS: "tls1.3"})
	require.EqualError(t, err, `tls: unknown tls policy "tls1.3" (want one of mandatory, opportunistic, ssl, none)`)
	ch, err := smtp.New("email", smtp.Options{Host: "smtp.example.com", From: "alerts@example.com"})
	require.NoError(t, err)
	require.Equal(t, 587, ch.Options().Port)
}
