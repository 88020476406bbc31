package config

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseAllowHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		prefix string // "" : a host name
		host   string
	}{
		{in: "10.1.2.0/24", prefix: "10.1.2.0/24"},
		{in: "0.0.0.0/0", prefix: "0.0.0.0/0"},
		{in: "fd00:1::/64", prefix: "fd00:1::/64"},
		{in: "10.1.2.3", prefix: "10.1.2.3/32"},
		{in: "::1", prefix: "::1/128"},
		{in: "::ffff:10.1.2.3", prefix: "10.1.2.3/32"}, // a mapped address is the IPv4 one
		{in: "hooks.internal", host: "hooks.internal"},
		{in: "Hooks.Internal.", host: "hooks.internal"},
		{in: "localhost", host: "localhost"},
		{in: "svc_hooks-1.ns.svc.cluster.local", host: "svc_hooks-1.ns.svc.cluster.local"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			p, host, err := ParseAllowHost(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.host, host)
			if tt.prefix == "" {
				require.False(t, p.IsValid())
			} else {
				require.Equal(t, netip.MustParsePrefix(tt.prefix), p)
			}
		})
	}
	for _, bad := range []string{"", " ", " hooks.internal", "10.1.2.0/33", "::ffff:10.0.0.0/104", "a..b", "hooks internal", "300.1.2.3", "http://10.0.0.1/x"} {
		_, _, err := ParseAllowHost(bad)
		require.Error(t, err, "%q", bad)
	}
}
