// Package clientaddr says who sent an HTTP request and whether it came over
// HTTPS, believing X-Forwarded-For and X-Forwarded-Proto only when they were
// set by a trusted reverse proxy (server.trusted_proxies).
package clientaddr

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Trust is a set of trusted proxy prefixes. The zero value trusts no one.
type Trust []netip.Prefix

func (t Trust) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peer is the address the connection came from.
func peer(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// IP returns the client's address. X-Forwarded-For is read right to left,
// from the proxy nearest the gateway, skipping trusted proxies: the first
// address a trusted proxy did not vouch for is the client. A client that
// writes its own X-Forwarded-For only adds entries to the left of what the
// trusted proxies appended, so it cannot choose its address.
func (t Trust) IP(r *http.Request) netip.Addr {
	a := peer(r)
	if !a.IsValid() || !t.trusts(a) {
		return a
	}
	hops := forwardedFor(r.Header.Values("X-Forwarded-For"))
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(hops[i])
		if err != nil {
			return a // a malformed hop: stop at the last address we can vouch for
		}
		a = h.Unmap()
		if !t.trusts(a) {
			return a
		}
	}
	return a
}

func forwardedFor(values []string) []string {
	var hops []string
	for _, v := range values {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	return hops
}

// HTTPS reports whether the request reached the gateway over TLS, or
// reached a trusted proxy over HTTPS (X-Forwarded-Proto: https, as the
// proxy nearest the gateway wrote it).
func (t Trust) HTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !t.trusts(peer(r)) {
		return false
	}
	protos := forwardedFor(r.Header.Values("X-Forwarded-Proto"))
	return len(protos) > 0 && strings.EqualFold(protos[len(protos)-1], "https")
}
