package config

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseTrustedProxy(t *testing.T) {
	good := map[string]string{
		"10.0.0.0/8":          "10.0.0.0/8",
		"10.0.0.1":            "10.0.0.1/32",
		"fd00::/8":            "fd00::/8",
		"::ffff:10.0.0.0/104": "10.0.0.0/8",
		"::ffff:10.0.0.1":     "10.0.0.1/32",
	}
	for in, want := range good {
		p, err := ParseTrustedProxy(in)
		if err != nil || p != netip.MustParsePrefix(want) {
			t.Errorf("ParseTrustedProxy(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", "proxy.local", "10.0.0.1/8", "10.0.0.0/33", " 10.0.0.1"} {
		if _, err := ParseTrustedProxy(in); err == nil {
			t.Errorf("ParseTrustedProxy(%q): want an error", in)
		}
	}
	c, err := Parse("t.yaml", []byte("server: {trusted_proxies: [10.0.0.0/8, bogus]}\nauth: {keys: [{name: a, key: aaaaaaaaaaaaaaaaaaaa, role: send}]}\nchannels: {s: {type: sim, kind: sms}}\npolicies: [{name: default, route: [s]}]\n"))
	if err == nil {
		t.Fatalf("a bogus trusted proxy loaded: %+v", c.Server)
	}
	if got := err.Error(); !strings.Contains(got, "server.trusted_proxies[1]") {
		t.Errorf("error does not name the entry: %s", got)
	}
}
