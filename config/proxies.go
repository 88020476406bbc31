package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParseTrustedProxy reads one server.trusted_proxies entry: a CIDR
// ("10.0.0.0/8", "fd00::/8") or an IP address (one host).
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf(`%q is not a CIDR: want an address and a prefix length, such as "10.0.0.0/8"`, s)
		}
		if p != p.Masked() {
			return netip.Prefix{}, fmt.Errorf("%q has address bits set beyond its /%d prefix: write %q", s, p.Bits(), p.Masked().String())
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf(`%q is not an IP address or a CIDR, such as "10.0.0.1" or "10.0.0.0/8"`, s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// unmapBits is how many prefix bits an IPv4-mapped IPv6 address loses when
// it is unmapped (96), so ::ffff:10.0.0.0/104 becomes 10.0.0.0/8.
func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}
