package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// ParseAllowHost reads one callbacks.allow_hosts entry: a CIDR
// ("10.1.2.0/24", "fd00:1::/64"), an IP address (a /32 or /128), or a host
// name ("hooks.internal"). It returns the prefix for the first two and the
// name, lowercased and without a trailing dot, for the third. Validation
// and the callback sender (callbacks.NewAddressPolicy) both read entries
// through it, so what loads is exactly what is enforced.
func ParseAllowHost(s string) (netip.Prefix, string, error) {
	if strings.TrimSpace(s) == "" {
		return netip.Prefix{}, "", fmt.Errorf(`empty: give a host name such as "hooks.internal", an IP address, or a CIDR such as "10.1.2.0/24"`)
	}
	if s != strings.TrimSpace(s) {
		return netip.Prefix{}, "", fmt.Errorf("%q has spaces around it", s)
	}
	if strings.Contains(s, "/") {
		if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
			return netip.Prefix{}, "", fmt.Errorf("%q is a URL: give only its host, %q", s, u.Hostname())
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, "", fmt.Errorf(`%q is not a CIDR: want an address and a prefix length, such as "10.1.2.0/24" or "fd00:1::/64"`, s)
		}
		if p.Addr().Is4In6() {
			return netip.Prefix{}, "", fmt.Errorf(`%q is an IPv4-mapped IPv6 range: write IPv4 ranges in IPv4 form, such as "10.1.2.0/24"`, s)
		}
		if p != p.Masked() {
			return netip.Prefix{}, "", fmt.Errorf("%q has address bits set beyond its /%d prefix: write %q", s, p.Bits(), p.Masked().String())
		}
		return p, "", nil
	}
	if strings.Contains(s, "%") {
		return netip.Prefix{}, "", fmt.Errorf("%q has an IPv6 zone: give the address without it", s)
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), "", nil
	}
	switch {
	case strings.HasPrefix(s, "[") || strings.Count(s, ":") > 1:
		return netip.Prefix{}, "", fmt.Errorf("%q is not an IP address: write IPv6 addresses without brackets, such as \"fd00::1\"", s)
	case strings.Contains(s, ":"):
		return netip.Prefix{}, "", fmt.Errorf("%q has a port: give only the host (every port of an allowed host is allowed)", s)
	case strings.Contains(s, "*"):
		return netip.Prefix{}, "", fmt.Errorf("%q: wildcards are not supported; list each host name, or give a CIDR", s)
	}
	name, err := hostName(s)
	if err != nil {
		return netip.Prefix{}, "", fmt.Errorf("%q is not a host name, an IP address or a CIDR: %w", s, err)
	}
	return netip.Prefix{}, name, nil
}

// hostName checks a DNS host name and returns it lowercased, without a
// trailing dot.
func hostName(s string) (string, error) {
	name := strings.ToLower(strings.TrimSuffix(s, "."))
	if name == "" || len(name) > 253 {
		return "", fmt.Errorf("a host name has 1 to 253 characters")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", fmt.Errorf("each dot-separated part has 1 to 63 characters")
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return "", fmt.Errorf(`use letters, digits, "-", "_" and "."`)
			}
		}
	}
	// "10.1.2" or "300.1.2.3": a mistyped address, not a name (no top-level
	// domain is all digits).
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", fmt.Errorf("it looks like a mistyped IP address")
	}
	return name, nil
}
