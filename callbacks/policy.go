package callbacks

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/switchboard-gw/switchboard/config"
)

// AddressPolicy says which addresses status callbacks may be sent to. A
// callback_url is chosen by whoever holds a send key; without a policy it
// could make the gateway POST to itself, to the cloud metadata service
// (169.254.169.254) or to anything else on the internal network (SSRF).
//
// Public addresses are always allowed. Everything else is refused unless
// the config allows it: AllowPrivateNetworks opens loopback, private and
// shared (CGNAT) addresses; AllowHosts opens what it lists, whatever its
// class. The sender checks the address of every connection it opens,
// after DNS (see Sender), and the API checks a callback_url whose host is
// a literal IP when the message is submitted.
//
// The zero value and nil allow public addresses only. A policy never
// changes after NewAddressPolicy; a reload builds a new one.
type AddressPolicy struct {
	allowPrivate bool
	prefixes     []netip.Prefix
	hosts        map[string]bool
}

// NewAddressPolicy builds the policy of a callbacks config section. Its
// only error is an allow_hosts entry that config validation rejects.
func NewAddressPolicy(c config.Callbacks) (*AddressPolicy, error) {
	p := &AddressPolicy{allowPrivate: c.AllowPrivateNetworks, hosts: map[string]bool{}}
	for i, entry := range c.AllowHosts {
		prefix, host, err := config.ParseAllowHost(entry)
		if err != nil {
			return nil, fmt.Errorf("callbacks.allow_hosts[%d]: %w", i, err)
		}
		if host != "" {
			p.hosts[host] = true
		} else {
			p.prefixes = append(p.prefixes, prefix)
		}
	}
	return p, nil
}

// Allowed returns nil if a callback may connect to ip, reached through
// host (the callback_url's host: a name, or ip itself when the URL holds
// a literal address), or else a *BlockedAddressError.
func (p *AddressPolicy) Allowed(ip netip.Addr, host string) error {
	ip = ip.WithZone("")
	class, effective := classify(ip)
	if class == classPublic {
		return nil
	}
	if p != nil {
		for _, pr := range p.prefixes {
			if pr.Contains(ip) || pr.Contains(effective) {
				return nil
			}
		}
		if name := normalHost(host); name != "" && p.hosts[name] {
			return nil
		}
		if p.allowPrivate && class.private() {
			return nil
		}
	}
	if ip.Is4In6() {
		ip = ip.Unmap() // written as the address it reaches
	}
	return &BlockedAddressError{Addr: ip, Reaches: effective, Host: strings.Trim(host, "[]"), Class: class.String()}
}

// normalHost is a URL host as an allow_hosts name compares: lowercased,
// without brackets or a trailing dot.
func normalHost(host string) string {
	return strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
}

// BlockedAddressError: a callback would connect to an address the policy
// refuses. It is permanent: the sender gives the callback up at once,
// since retrying the same address cannot help.
type BlockedAddressError struct {
	// Addr is the address refused; Reaches is the IPv4 address it leads
	// to when it embeds one (NAT64, 6to4), else Addr.
	Addr, Reaches netip.Addr
	// Host is the callback_url's host: a name, or Addr's text.
	Host string
	// Class is what kind of address it is: "private", "loopback",
	// "link-local", ... as the message says "a private address".
	Class string
}

func (e *BlockedAddressError) Error() string {
	var b strings.Builder
	b.WriteString("callback_url ")
	lit, err := netip.ParseAddr(e.Host)
	literal := err == nil && lit.WithZone("").Unmap() == e.Addr
	switch {
	case literal:
		fmt.Fprintf(&b, "host %s", e.Host)
	case e.Host != "":
		fmt.Fprintf(&b, "host %s resolves to %s", e.Host, e.Addr)
	default:
		fmt.Fprintf(&b, "resolves to %s", e.Addr)
	}
	if e.Reaches.IsValid() && e.Reaches != e.Addr {
		fmt.Fprintf(&b, " (which reaches %s)", e.Reaches)
	}
	if literal {
		b.WriteString(" is")
	} else {
		b.WriteString(",")
	}
	fmt.Fprintf(&b, " %s %s address; ", article(e.Class), e.Class)
	if addressClass(e.Class).private() {
		b.WriteString("set callbacks.allow_private_networks or callbacks.allow_hosts in the gateway's config to allow it")
	} else {
		b.WriteString("list it in callbacks.allow_hosts in the gateway's config to allow it (callbacks.allow_private_networks does not)")
	}
	return b.String()
}

func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// addressClass names what kind of address an IP is.
type addressClass string

const (
	classPublic      addressClass = "public"
	classLoopback    addressClass = "loopback"
	classPrivate     addressClass = "private"
	classShared      addressClass = "shared (CGNAT)"
	classLinkLocal   addressClass = "link-local"
	classMetadata    addressClass = "cloud metadata"
	classMulticast   addressClass = "multicast"
	classUnspecified addressClass = "unspecified"
	classReserved    addressClass = "reserved"
)

func (c addressClass) String() string { return string(c) }

// private reports whether AllowPrivateNetworks opens the class. The
// others are never a business app's webhook receiver: link-local is
// where cloud metadata services answer, and 0.0.0.0 reaches the gateway's
// own host.
func (c addressClass) private() bool {
	return c == classLoopback || c == classPrivate || c == classShared
}

// ranges are the non-public ranges, most specific first. IPv4-mapped IPv6
// addresses are classified as the IPv4 address they are; NAT64 and 6to4
// addresses as the IPv4 address they embed (see classify).
var ranges = []struct {
	prefix netip.Prefix
	class  addressClass
}{
	// Metadata services outside link-local: AWS's IPv6 endpoint (inside
	// fc00::/7) and Alibaba Cloud's (inside 100.64.0.0/10). Refused even
	// with allow_private_networks, as 169.254.169.254 is.
	{netip.MustParsePrefix("fd00:ec2::254/128"), classMetadata},
	{netip.MustParsePrefix("100.100.100.200/32"), classMetadata},

	{netip.MustParsePrefix("0.0.0.0/32"), classUnspecified},
	{netip.MustParsePrefix("0.0.0.0/8"), classReserved}, // "this network"
	{netip.MustParsePrefix("127.0.0.0/8"), classLoopback},
	{netip.MustParsePrefix("10.0.0.0/8"), classPrivate},
	{netip.MustParsePrefix("172.16.0.0/12"), classPrivate},
	{netip.MustParsePrefix("192.168.0.0/16"), classPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), classShared},
	{netip.MustParsePrefix("169.254.0.0/16"), classLinkLocal},
	{netip.MustParsePrefix("192.0.0.0/24"), classReserved},  // IETF protocol assignments
	{netip.MustParsePrefix("198.18.0.0/15"), classReserved}, // benchmarking; often internal
	{netip.MustParsePrefix("224.0.0.0/4"), classMulticast},
	{netip.MustParsePrefix("240.0.0.0/4"), classReserved}, // and 255.255.255.255
	{netip.MustParsePrefix("::/128"), classUnspecified},
	{netip.MustParsePrefix("::1/128"), classLoopback},
	{netip.MustParsePrefix("::/96"), classReserved},   // IPv4-compatible, deprecated
	{netip.MustParsePrefix("fc00::/7"), classPrivate}, // unique local, RFC 4193
	{netip.MustParsePrefix("fe80::/10"), classLinkLocal},
	{netip.MustParsePrefix("fec0::/10"), classPrivate}, // site-local, deprecated
	{netip.MustParsePrefix("ff00::/8"), classMulticast},
	{netip.MustParsePrefix("64:ff9b:1::/48"), classPrivate}, // local-use NAT64, RFC 8215
	{netip.MustParsePrefix("100::/64"), classReserved},      // discard-only
	{netip.MustParsePrefix("2001::/32"), classReserved},     // Teredo
	{netip.MustParsePrefix("2001:db8::/32"), classReserved}, // documentation
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// classify returns ip's class and the address it effectively reaches: the
// IPv4 address of an IPv4-mapped, NAT64 (64:ff9b::/96) or 6to4 (2002::/16)
// address, whose class it takes; ip itself otherwise.
func classify(ip netip.Addr) (addressClass, netip.Addr) {
	if !ip.IsValid() {
		return classReserved, ip // never from a parsed address; refuse, never pass
	}
	eff := ip.Unmap()
	if eff.Is6() {
		b := eff.As16()
		switch {
		case nat64.Contains(eff):
			eff = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		case sixToFour.Contains(eff):
			eff = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
		}
	}
	for _, r := range ranges {
		if r.prefix.Contains(eff) {
			return r.class, eff
		}
	}
	return classPublic, eff
}
