package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		perS  float64
		burst int
		err   bool
	}{
		{in: "30/s", perS: 30, burst: 30},
		{in: "120/m", perS: 2, burst: 2},
		{in: "3600/h", perS: 1, burst: 1},
		{in: "1/m", perS: 1.0 / 60, burst: 1},
		{in: "30", err: true},
		{in: "x/s", err: true},
		{in: "0/s", err: true},
		{in: "5/d", err: true},
	}
	for _, tt := range tests {
		var r Rate
		err := r.UnmarshalText([]byte(tt.in))
		if tt.err {
			require.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.InDelta(t, tt.perS, r.PerSecond(), 1e-9, tt.in)
		require.Equal(t, tt.burst, r.Burst(), tt.in)
	}
	require.Equal(t, Rate{N: 30, Per: time.Second}, mustRate(t, "30/s"))
}

func mustRate(t *testing.T, s string) Rate {
	var r Rate
	require.NoError(t, r.UnmarshalText([]byte(s)))
	return r
}

func TestRateInChannelConfig(t *testing.T) {
	t.Parallel()
	cfg, err := ParseWithEnv("r.yaml", []byte(`
auth: {keys: [{name: a, key: aaaaaaaaaaaaaaaaaaaa, role: send}]}
channels:
  sms: {type: sim, kind: sms, rate: 10/s}
  email: {type: sim, kind: email, rate: ten/s}
policies: [{name: default, route: [sms, email]}]
`), func(string) (string, bool) { return "", false })
	require.Error(t, err)
	require.Contains(t, err.Error(), "r.yaml:5: channels.email.rate: bad value")
	require.Nil(t, cfg)
}
