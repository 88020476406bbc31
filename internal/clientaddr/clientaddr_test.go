package clientaddr

import (
	"crypto/tls"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestTrust(t *testing.T) {
	trust := Trust{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	cases := []struct {
		name   string
		remote string
		xff    []string
		proto  string
		tls    bool
		ip     string
		https  bool
	}{
		{name: "direct, headers ignored", remote: "203.0.113.5:1234", xff: []string{"1.2.3.4"}, proto: "https", ip: "203.0.113.5"},
		{name: "direct TLS", remote: "203.0.113.5:1234", tls: true, ip: "203.0.113.5", https: true},
		{name: "trusted proxy", remote: "10.1.1.1:80", xff: []string{"198.51.100.7"}, proto: "https", ip: "198.51.100.7", https: true},
		{name: "spoofed left entry", remote: "10.1.1.1:80", xff: []string{"6.6.6.6, 198.51.100.7"}, ip: "198.51.100.7"},
		{name: "two trusted hops", remote: "10.1.1.1:80", xff: []string{"198.51.100.7", "10.2.2.2"}, ip: "198.51.100.7"},
		{name: "all trusted", remote: "10.1.1.1:80", xff: []string{"10.3.3.3"}, ip: "10.3.3.3"},
		{name: "malformed hop", remote: "10.1.1.1:80", xff: []string{"nonsense"}, ip: "10.1.1.1"},
		{name: "no header behind proxy", remote: "10.1.1.1:80", ip: "10.1.1.1"},
		{name: "proxy says http", remote: "10.1.1.1:80", proto: "http", ip: "10.1.1.1"},
		{name: "ipv6 trusted", remote: "[fd00::1]:80", xff: []string{"2001:db8::9"}, proto: "HTTPS", ip: "2001:db8::9", https: true},
		{name: "mapped peer", remote: "[::ffff:10.0.0.1]:80", xff: []string{"198.51.100.7"}, ip: "198.51.100.7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if c.proto != "" {
				r.Header.Set("X-Forwarded-Proto", c.proto)
			}
			if c.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if got := trust.IP(r); got != netip.MustParseAddr(c.ip) {
				t.Errorf("IP = %v, want %s", got, c.ip)
			}
			if got := trust.HTTPS(r); got != c.https {
				t.Errorf("HTTPS = %v, want %v", got, c.https)
			}
		})
	}
	// No trust at all: the peer, always.
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.1.1:80"
	r.Header.Set("X-Forwarded-For", "198.51.100.7")
	if got := Trust(nil).IP(r); got != netip.MustParseAddr("10.1.1.1") {
		t.Errorf("nil trust IP = %v", got)
	}
}
