package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestInboundSection(t *testing.T) {
	t.Parallel()
	const secret = "whsec_inbound_0123456789"
	tests := []struct {
		name string
		yaml string
		env  []string
		want []string
	}{
		{name: "absent"},
		{name: "url and secret from the environment",
			yaml: "inbound: {callback_url: \"https://app.example.com/in\", callback_secret: \"${IN_SECRET}\"}\n",
			env:  []string{"IN_SECRET=" + secret}},
		{name: "relative url", yaml: "inbound: {callback_url: \"/in\", callback_secret: \"" + secret + "\"}\n",
			want: []string{`t.yaml:1: inbound.callback_url: must be an absolute http or https URL without credentials, such as "https://app.example.com/switchboard/inbound"`}},
		{name: "ftp url", yaml: "inbound: {callback_url: \"ftp://app.example.com/in\", callback_secret: \"" + secret + "\"}\n",
			want: []string{`t.yaml:1: inbound.callback_url: must be an absolute http or https URL without credentials, such as "https://app.example.com/switchboard/inbound"`}},
		{name: "no secret", yaml: "inbound: {callback_url: \"https://app.example.com/in\"}\n",
			want: []string{`t.yaml:1: inbound.callback_secret: required with inbound.callback_url: it signs the callbacks (Switchboard-Signature); set it from the environment, such as ${INBOUND_CALLBACK_SECRET}`}},
		{name: "short secret", yaml: "inbound: {callback_url: \"https://app.example.com/in\", callback_secret: \"${IN_SECRET}\"}\n",
			env:  []string{"IN_SECRET=short"},
			want: []string{`t.yaml:1: inbound.callback_secret: too short (5 characters): use at least 16 so it cannot be guessed`}},
		{name: "secret alone", yaml: "inbound: {callback_secret: \"" + secret + "\"}\n",
			want: []string{`t.yaml:1: inbound.callback_secret: set without inbound.callback_url: give the URL too, or remove the secret`}},
		{name: "unset variable", yaml: "inbound: {callback_url: \"https://app.example.com/in\", callback_secret: \"${IN_SECRET}\"}\n",
			want: []string{`t.yaml:1: inbound.callback_secret: environment variable IN_SECRET is not set (set it, or give a default: ${IN_SECRET:-default})`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseWithEnv("t.yaml", []byte(tt.yaml+okRest), env(tt.env...))
			if tt.want != nil {
				require.Equal(t, tt.want, errLines(t, err))
				return
			}
			require.NoError(t, err)
			if tt.env != nil {
				require.Equal(t, secret, c.Inbound.CallbackSecret.Reveal())
			}
		})
	}
}
