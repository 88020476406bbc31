package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// TLS makes the listener serve HTTPS, with a certificate from files
// (CertFile and KeyFile) or from an ACME CA such as Let's Encrypt (ACME).
// Either way the gateway speaks TLS 1.2 or later only.
//
// Files are read again on every reload and whenever they change on disk
// (renewed by certbot or cert-manager): the next handshake uses the new
// pair, no restart needed. A pair that does not load (half-written, a key
// that does not match) keeps the previous one in use and is logged at
// ERROR; a reload naming such a pair is refused.
type TLS struct {
	CertFile string `yaml:"cert_file"` // PEM certificate chain, leaf first
	KeyFile  string `yaml:"key_file"`  // PEM private key
	ACME     ACME   `yaml:"acme"`
}

// ACME gets and renews certificates by ACME (RFC 8555) with the TLS-ALPN-01
// challenge: the CA connects to each domain on port 443, so the gateway must
// listen there (server.listen ":443") and be reachable by those names.
type ACME struct {
	Domains []string `yaml:"domains"` // names to get a certificate for; required
	Email   string   `yaml:"email"`   // the CA's contact for expiry notices; optional
	// DirectoryURL is the CA's directory; default Let's Encrypt's
	// production directory (DefaultACMEDirectory).
	DirectoryURL string `yaml:"directory_url"`
	// CacheDir keeps the account key and certificates across restarts
	// (created 0700); default "data/acme". Without it every start would
	// order new certificates and soon hit the CA's rate limits.
	CacheDir string `yaml:"cache_dir"`
	// CAFile is a PEM file of CA certificates to trust for the ACME
	// server's own HTTPS, for a private ACME CA (step-ca, Pebble); default
	// the system's roots.
	CAFile string `yaml:"ca_file"`
}

// DefaultACMEDirectory is Let's Encrypt's production ACME directory.
const DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// DefaultACMECacheDir is where ACME state goes when cache_dir is not set.
const DefaultACMECacheDir = "data/acme"

// Enabled reports whether the listener serves HTTPS.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" || t.ACME.Enabled() }

// Enabled reports whether certificates come from ACME.
func (a ACME) Enabled() bool { return len(a.Domains) > 0 }

// Directory is DirectoryURL or its default.
func (a ACME) Directory() string {
	if a.DirectoryURL == "" {
		return DefaultACMEDirectory
	}
	return a.DirectoryURL
}

// Cache is CacheDir or its default.
func (a ACME) Cache() string {
	if a.CacheDir == "" {
		return DefaultACMECacheDir
	}
	return a.CacheDir
}

// dnsName is a host name a public CA can certify: letters, digits and
// hyphens in dot-separated labels, no wildcard (TLS-ALPN-01 cannot prove
// one) and no trailing dot.
var dnsName = regexp.MustCompile(`^(?i)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (v *checker) tls() {
	t := &v.c.Server.TLS
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		v.errorf("server.tls.key_file", "missing: cert_file needs its private key (a PEM file)")
	case t.KeyFile != "" && t.CertFile == "":
		v.errorf("server.tls.cert_file", "missing: key_file needs its certificate (a PEM file)")
	}
	a := &t.ACME
	if !a.Enabled() {
		if a.Email != "" || a.DirectoryURL != "" || a.CacheDir != "" || a.CAFile != "" {
			v.errorf("server.tls.acme.domains", "missing: list the domain names to get certificates for")
		}
		return
	}
	if t.CertFile != "" || t.KeyFile != "" {
		v.errorf("server.tls.acme", "cannot be used with server.tls.cert_file and key_file: choose certificate files or ACME")
	}
	seen := map[string]bool{}
	for i, d := range a.Domains {
		key := fmt.Sprintf("server.tls.acme.domains[%d]", i)
		switch {
		case net.ParseIP(d) != nil:
			v.errorf(key, "%q is an IP address: ACME certificates here are for domain names", d)
		case strings.Contains(d, "*"):
			v.errorf(key, "%q is a wildcard: the TLS-ALPN-01 challenge cannot prove one; list each name", d)
		case len(d) > 253 || !dnsName.MatchString(d):
			v.errorf(key, "%q is not a domain name such as \"sb.example.com\"", d)
		case seen[strings.ToLower(d)]:
			v.errorf(key, "%q is listed twice", d)
		}
		seen[strings.ToLower(d)] = true
	}
	if a.DirectoryURL != "" {
		if u, err := url.Parse(a.DirectoryURL); err != nil || u.Scheme != "https" || u.Host == "" {
			v.errorf("server.tls.acme.directory_url", "%q is not an https URL such as %q", a.DirectoryURL, DefaultACMEDirectory)
		}
	}
	if a.Email != "" && !strings.Contains(a.Email, "@") {
		v.errorf("server.tls.acme.email", "not an email address")
	}
}

// metricsListen checks server.metrics_listen.
func (v *checker) metricsListen() {
	s := &v.c.Server
	if s.MetricsListen == "" {
		return
	}
	if _, _, err := net.SplitHostPort(s.MetricsListen); err != nil {
		v.errorf("server.metrics_listen", "%q is not an address such as \"127.0.0.1:9090\"", s.MetricsListen)
		return
	}
	if s.MetricsListen == s.Listen {
		v.errorf("server.metrics_listen", "same address as server.listen: give /metrics its own, such as \"127.0.0.1:9090\"")
	}
}
