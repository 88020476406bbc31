package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const readRest = `
auth:
  keys: [{name: shop, key: "0123456789abcdef", role: send}]
channels:
  whatsapp: {type: sim, kind: whatsapp}
  sms: {type: sim, kind: sms}
policies:
`

func TestReadTimeoutValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy string
		want   []string // nil: valid
	}{
		{
			name:   "valid with no_read",
			policy: `  - {name: p, route: [whatsapp, sms], failover_on: [error, no_read], read_timeout: {whatsapp: 10m}}`,
		},
		{
			name:   "no_read missing from failover_on",
			policy: `  - {name: p, route: [whatsapp, sms], failover_on: [error], read_timeout: {whatsapp: 10m}}`,
			want:   []string{`t.yaml:8: policies[0].read_timeout: set, but failover_on does not list no_read (the default failover_on leaves it out): add no_read to failover_on or remove read_timeout`},
		},
		{
			name:   "default failover_on lacks no_read",
			policy: `  - {name: p, route: [whatsapp, sms], read_timeout: {whatsapp: 10m}}`,
			want:   []string{`t.yaml:8: policies[0].read_timeout: set, but failover_on does not list no_read (the default failover_on leaves it out): add no_read to failover_on or remove read_timeout`},
		},
		{
			name:   "unknown kind and zero duration",
			policy: `  - {name: p, route: [whatsapp, sms], failover_on: [no_read], read_timeout: {whatsap: 10m, sms: 0s}}`,
			want: []string{
				`t.yaml:8: policies[0].read_timeout.sms: must be greater than 0, got 0s`,
				`t.yaml:8: policies[0].read_timeout.whatsap: unknown channel kind "whatsap" (want whatsapp, sms, email or telegram)`,
			},
		},
		{
			name:   "bad duration",
			policy: `  - {name: p, route: [whatsapp, sms], failover_on: [no_read], read_timeout: {whatsapp: soon}}`,
			want:   []string{`t.yaml:8: policies[0].read_timeout.whatsapp: bad duration "soon": use a Go duration such as 30s, 1h30m or 500ms`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseWithEnv("t.yaml", []byte(readRest+tt.policy+"\n"), env())
			if tt.want == nil {
				require.NoError(t, err)
				p := c.Policies[0]
				require.Equal(t, 10*time.Minute, p.ReadTimeoutFor("whatsapp"))
				require.Zero(t, p.ReadTimeoutFor("sms"))
				return
			}
			require.Equal(t, tt.want, errLines(t, err))
		})
	}
}

// TestNoReadNotADefaultTrigger: the default failover_on leaves no_read out,
// so a policy without read_timeout behaves as before.
func TestNoReadNotADefaultTrigger(t *testing.T) {
	t.Parallel()
	c, err := ParseWithEnv("t.yaml", []byte(readRest+"  - {name: p, route: [whatsapp, sms]}\n"), env())
	require.NoError(t, err)
	require.False(t, c.Policies[0].FailsOverOn(TriggerNoRead))
	require.NotContains(t, AllTriggers, TriggerNoRead)
}
