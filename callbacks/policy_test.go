package callbacks

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
)

func TestAddressPolicy(t *testing.T) {
	t.Parallel()
	var (
		strict      = config.Callbacks{}
		private     = config.Callbacks{AllowPrivateNetworks: true}
		hooksSubnet = config.Callbacks{AllowHosts: []string{"10.1.2.0/24", "fd00:1::/64", "192.168.7.7"}}
		hooksName   = config.Callbacks{AllowHosts: []string{"Hooks.Internal."}}
		metadata    = config.Callbacks{AllowHosts: []string{"169.254.169.254"}}
	)
	tests := []struct {
		name   string
		cfg    config.Callbacks
		ip     string
		host   string // "" : the ip itself, as a URL with a literal address has
		class  string // "" : allowed
		reason string // the start of the error, when refused
	}{
		// Public addresses are always allowed.
		{name: "public v4", cfg: strict, ip: "93.184.215.14"},
		{name: "public v6", cfg: strict, ip: "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		{name: "public v4, mapped", cfg: strict, ip: "::ffff:93.184.215.14"},
		{name: "public through NAT64", cfg: strict, ip: "64:ff9b::5db8:d70e"},
		{name: "just past 172.16/12", cfg: strict, ip: "172.32.0.1"},
		{name: "just past CGNAT", cfg: strict, ip: "100.128.0.1"},

		// Refused by default.
		{name: "loopback", cfg: strict, ip: "127.0.0.1", class: "loopback",
			reason: "callback_url host 127.0.0.1 is a loopback address; set callbacks.allow_private_networks or callbacks.allow_hosts in the gateway's config to allow it"},
		{name: "loopback, not .1", cfg: strict, ip: "127.8.9.10", class: "loopback"},
		{name: "loopback v6", cfg: strict, ip: "::1", class: "loopback"},
		{name: "loopback, mapped", cfg: strict, ip: "::ffff:127.0.0.1", class: "loopback"},
		{name: "10/8 through a name", cfg: strict, ip: "10.0.0.5", host: "hooks.example.com", class: "private",
			reason: "callback_url host hooks.example.com resolves to 10.0.0.5, a private address; set callbacks.allow_private_networks or callbacks.allow_hosts in the gateway's config to allow it"},
		{name: "172.16/12", cfg: strict, ip: "172.31.255.255", class: "private"},
		{name: "192.168/16", cfg: strict, ip: "192.168.1.1", class: "private"},
		{name: "192.168/16, mapped", cfg: strict, ip: "::ffff:c0a8:101", class: "private"},
		{name: "unique local", cfg: strict, ip: "fd12:3456::1", class: "private"},
		{name: "CGNAT", cfg: strict, ip: "100.64.0.1", class: "shared (CGNAT)",
			reason: "callback_url host 100.64.0.1 is a shared (CGNAT) address; set callbacks.allow_private_networks"},
		{name: "metadata", cfg: strict, ip: "169.254.169.254", class: "link-local",
			reason: "callback_url host 169.254.169.254 is a link-local address; list it in callbacks.allow_hosts in the gateway's config to allow it (callbacks.allow_private_networks does not)"},
		{name: "link-local v6 with a zone", cfg: strict, ip: "fe80::1%eth0", class: "link-local"},
		{name: "unspecified", cfg: strict, ip: "0.0.0.0", class: "unspecified", reason: "callback_url host 0.0.0.0 is an unspecified address"},
		{name: "unspecified v6", cfg: strict, ip: "::", class: "unspecified"},
		{name: "this network", cfg: strict, ip: "0.1.2.3", class: "reserved"},
		{name: "multicast", cfg: strict, ip: "224.0.0.251", class: "multicast"},
		{name: "multicast v6", cfg: strict, ip: "ff02::1", class: "multicast"},
		{name: "broadcast", cfg: strict, ip: "255.255.255.255", class: "reserved"},
		{name: "private through NAT64", cfg: strict, ip: "64:ff9b::a00:5", class: "private",
			reason: "callback_url host 64:ff9b::a00:5 (which reaches 10.0.0.5) is a private address"},
		{name: "loopback through 6to4", cfg: strict, ip: "2002:7f00:1::1", host: "sneaky.example", class: "loopback",
			reason: "callback_url host sneaky.example resolves to 2002:7f00:1::1 (which reaches 127.0.0.1), a loopback address"},
		{name: "IPv4-compatible", cfg: strict, ip: "::a00:5", class: "reserved"},

		// allow_private_networks: loopback, private and CGNAT; not the rest.
		{name: "private allowed", cfg: private, ip: "10.0.0.5"},
		{name: "loopback allowed", cfg: private, ip: "127.0.0.1"},
		{name: "loopback v6 allowed", cfg: private, ip: "::1"},
		{name: "mapped private allowed", cfg: private, ip: "::ffff:10.0.0.5"},
		{name: "unique local allowed", cfg: private, ip: "fd12:3456::1"},
		{name: "CGNAT allowed", cfg: private, ip: "100.64.0.1"},
		{name: "metadata still refused", cfg: private, ip: "169.254.169.254", class: "link-local"},
		{name: "AWS IPv6 metadata still refused", cfg: private, ip: "fd00:ec2::254", class: "cloud metadata",
			reason: "callback_url host fd00:ec2::254 is a cloud metadata address; list it in callbacks.allow_hosts"},
		{name: "Alibaba metadata still refused", cfg: private, ip: "100.100.100.200", class: "cloud metadata"},
		{name: "unspecified still refused", cfg: private, ip: "0.0.0.0", class: "unspecified"},
		{name: "link-local v6 still refused", cfg: private, ip: "fe80::1", class: "link-local"},

		// allow_hosts CIDRs and addresses.
		{name: "in the CIDR", cfg: hooksSubnet, ip: "10.1.2.200"},
		{name: "in the CIDR, reached through a name", cfg: hooksSubnet, ip: "10.1.2.3", host: "anything.internal"},
		{name: "in the CIDR, mapped", cfg: hooksSubnet, ip: "::ffff:10.1.2.3"},
		{name: "beside the CIDR", cfg: hooksSubnet, ip: "10.1.3.1", class: "private"},
		{name: "in the v6 CIDR", cfg: hooksSubnet, ip: "fd00:1::42"},
		{name: "beside the v6 CIDR", cfg: hooksSubnet, ip: "fd00:2::42", class: "private"},
		{name: "the one address", cfg: hooksSubnet, ip: "192.168.7.7"},
		{name: "next to the one address", cfg: hooksSubnet, ip: "192.168.7.8", class: "private"},
		{name: "an address opens only itself", cfg: hooksSubnet, ip: "127.0.0.1", class: "loopback"},
		{name: "metadata listed", cfg: metadata, ip: "169.254.169.254"},
		{name: "metadata listed, not its neighbour", cfg: metadata, ip: "169.254.169.253", class: "link-local"},

		// allow_hosts names: the callback_url's host, any case, with or
		// without the trailing dot; not subdomains, not other names.
		{name: "the name", cfg: hooksName, ip: "10.0.0.5", host: "hooks.internal"},
		{name: "the name, other case and a dot", cfg: hooksName, ip: "169.254.1.1", host: "HOOKS.internal."},
		{name: "a subdomain", cfg: hooksName, ip: "10.0.0.5", host: "a.hooks.internal", class: "private"},
		{name: "another name, same address", cfg: hooksName, ip: "10.0.0.5", host: "other.internal", class: "private"},
		{name: "the name's address, written as an address", cfg: hooksName, ip: "10.0.0.5", class: "private"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := NewAddressPolicy(tt.cfg)
			require.NoError(t, err)
			ip := netip.MustParseAddr(tt.ip)
			host := tt.host
			if host == "" {
				host = tt.ip
			}
			err = p.Allowed(ip, host)
			if tt.class == "" {
				require.NoError(t, err)
				return
			}
			var blocked *BlockedAddressError
			require.ErrorAs(t, err, &blocked)
			require.Equal(t, tt.class, blocked.Class)
			require.Equal(t, host, blocked.Host)
			if tt.reason != "" {
				require.True(t, strings.HasPrefix(err.Error(), tt.reason), "error %q\nwant it to start %q", err, tt.reason)
			}
		})
	}
}

// TestAddressPolicyDefault: nil and the zero value are the default policy.
func TestAddressPolicyDefault(t *testing.T) {
	t.Parallel()
	var nilPolicy *AddressPolicy
	for _, p := range []*AddressPolicy{nilPolicy, {}} {
		require.NoError(t, p.Allowed(netip.MustParseAddr("8.8.8.8"), "dns.google"))
		require.Error(t, p.Allowed(netip.MustParseAddr("127.0.0.1"), "localhost"))
		require.Error(t, p.Allowed(netip.Addr{}, ""), "an invalid address is refused, not taken for a public one")
	}
}

func TestNewAddressPolicyRejectsWhatValidationRejects(t *testing.T) {
	t.Parallel()
	_, err := NewAddressPolicy(config.Callbacks{AllowHosts: []string{"10.0.0.0/8", "10.1.2.3/24"}})
	require.EqualError(t, err, `callbacks.allow_hosts[1]: "10.1.2.3/24" has address bits set beyond its /24 prefix: write "10.1.2.0/24"`)
}
