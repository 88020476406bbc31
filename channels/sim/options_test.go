package sim_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/sim"
	"github.com/switchboard-gw/switchboard/config"
)

// buildFromYAML loads a whole config whose only channel is "wa" (declared on
// line 6, its options from line 7) and builds that channel.
func buildFromYAML(t *testing.T, options string) (channels.Channel, error) {
	t.Helper()
	c, err := config.Parse("sb.yaml", []byte(`auth:
  keys: [{name: ops, key: "0123456789abcdef0123456789abcdef", role: admin}]
policies:
  - {name: default, route: [wa]}
channels:
  wa:
    type: sim
`+options))
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
	tests := []struct {
		name     string
		options  string
		wantMode string
		wantErr  string // the exact text, every problem in file order
	}{
		{
			name:     "defaults",
			options:  "    kind: sms\n",
			wantMode: sim.ModeUp,
		},
		{
			name: "every option",
			options: `    kind: whatsapp
    mode: flaky
    latency: 20ms
    jitter: 5ms
    receipt_delay: 0s
    failure_rate: 0.2
    read_delay: 1s
`,
			wantMode: sim.ModeFlaky,
		},
		{
			name:    "unknown key",
			options: "    kind: sms\n    latncy: 20ms\n",
			wantErr: `sb.yaml:9: channels.wa: unknown key "latncy"; did you mean "latency"?`,
		},
		{
			name:    "bad mode",
			options: "    kind: sms\n    mode: sideways\n",
			wantErr: `sb.yaml:9: channels.wa.mode: unknown sim mode "sideways" (want one of up, down, reject, blackhole, flaky, timeout, undeliver, unread)`,
		},
		{
			name:    "every problem at once",
			options: "    kind: sms\n    failure_rate: 2\n    latency: -5ms\n    receipt_delay: soon\n",
			wantErr: "sb.yaml:9: channels.wa.failure_rate: must be between 0 and 1, got 2\n" +
				"sb.yaml:10: channels.wa.latency: must not be negative, got -5ms\n" +
				`sb.yaml:11: channels.wa.receipt_delay: bad duration "soon": use a Go duration such as 30s, 1h30m or 500ms`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch, err := buildFromYAML(t, tt.options)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			s, ok := ch.(*sim.Sim)
			require.True(t, ok)
			require.Equal(t, "wa", s.Name())
			require.Equal(t, tt.wantMode, s.Mode())
		})
	}
}

// Config validation already insists on a kind for sim; the factory checks
// again because channels can also be built from a config.Channel in code.
func TestBuildNeedsKind(t *testing.T) {
	t.Parallel()
	_, err := channels.Build(&config.Channel{Name: "wa", Type: "sim", File: "sb.yaml", Line: 3}, channels.Deps{})
	require.EqualError(t, err, "sb.yaml:3: channels.wa.kind: required for type sim (one of whatsapp, sms, email, telegram)")

	_, err = channels.Build(&config.Channel{Name: "wa", Type: "sim", Kind: "fax", File: "sb.yaml", Line: 3}, channels.Deps{})
	require.ErrorContains(t, err, `sb.yaml:3: channels.wa.kind: unknown kind "fax"`)

	ch, err := channels.Build(&config.Channel{Name: "wa", Type: "sim", Kind: "email"}, channels.Deps{})
	require.NoError(t, err)
	require.Equal(t, channels.Email, ch.Kind())
	require.NoError(t, ch.(channels.Closer).Close())
}
