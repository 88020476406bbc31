package smtp

import (
	"fmt"
	"net"
	"net/mail"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/switchboard-gw/switchboard/config"
)

// TLS policies (the tls key).
const (
	// TLSMandatory requires STARTTLS: a server that does not offer it, or a
	// handshake that fails, fails the attempt before any credentials or
	// message are sent.
	TLSMandatory = "mandatory"
	// TLSOpportunistic uses STARTTLS when the server offers it and falls
	// back to plain text otherwise.
	TLSOpportunistic = "opportunistic"
	// TLSSSL is implicit TLS (SMTPS, usually port 465): TLS from the first byte.
	TLSSSL = "ssl"
	// TLSNone never encrypts.
	TLSNone = "none"
)

// TLSPolicies lists the tls values in the order error messages show them.
var TLSPolicies = []string{TLSMandatory, TLSOpportunistic, TLSSSL, TLSNone}

// SMTP AUTH mechanisms (the auth key).
const (
	AuthAuto        = "auto"
	AuthPlain       = "plain"
	AuthLogin       = "login"
	AuthCRAMMD5     = "cram-md5"
	AuthSCRAMSHA256 = "scram-sha-256"
)

// AuthMechanisms lists the auth values in the order error messages show them.
var AuthMechanisms = []string{AuthPlain, AuthLogin, AuthCRAMMD5, AuthSCRAMSHA256, AuthAuto}

// Default ports per TLS policy.
const (
	DefaultPort    = 587 // submission (RFC 6409), STARTTLS
	DefaultSSLPort = 465 // submissions (RFC 8314), implicit TLS
)

// Options are the smtp channel's type-specific YAML keys.
type Options struct {
	// Host is the server's name: where to connect (unless Endpoint is set),
	// the name its TLS certificate must carry, and the name PLAIN
	// authentication is bound to.
	Host string `yaml:"host"`
	// Port defaults to 587, or 465 with tls: ssl (0 means the default).
	// It is not used, and must not be set, with Endpoint.
	Port     int           `yaml:"port"`
	Username string        `yaml:"username"`
	Password config.Secret `yaml:"password"`
	// Auth is the SASL mechanism; "" means auto when a username is set.
	Auth string `yaml:"auth"`
	// From is an RFC 5322 address, with or without a display name:
	// "Alerts <alerts@example.com>".
	From    string `yaml:"from"`
	ReplyTo string `yaml:"reply_to"`
	// TLS is the TLS policy; "" means mandatory.
	TLS string `yaml:"tls"`
	// TLSSkipVerify accepts any server certificate. It exists for tests
	// against servers with self-signed certificates; never set it in
	// production, where it lets anyone on the path read the password.
	TLSSkipVerify bool `yaml:"tls_skip_verify"`
	// HELO is the name we greet the server with; "" means this machine's
	// host name.
	HELO string `yaml:"helo"`
	// Endpoint ("host:port"), when set, is where to connect instead of
	// Host and Port, for tests and proxies. Host still names the server
	// for TLS and authentication.
	Endpoint string `yaml:"endpoint"`
}

// problem is one invalid option, named by its YAML key so the factory can
// point at its line. A missing key is reported at the channel's line.
type problem struct {
	key     string
	missing bool
	err     error
}

// normalize fills defaults and validates. It returns the options to use and
// every problem found.
func (o Options) normalize() (Options, []problem) {
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key: key, err: fmt.Errorf(format, args...)})
	}
	missing := func(key string) {
		ps = append(ps, problem{key: key, missing: true, err: fmt.Errorf("missing required key %q", key)})
	}
	o.Host = strings.TrimSpace(o.Host)
	if o.Host == "" {
		missing("host")
	} else if strings.ContainsAny(o.Host, " :/\r\n") && net.ParseIP(o.Host) == nil {
		add("host", "want a host name or IP address without port or scheme, got %q", o.Host)
	}

	if o.TLS == "" {
		o.TLS = TLSMandatory
	}
	if !slices.Contains(TLSPolicies, o.TLS) {
		add("tls", "unknown tls policy %q (want one of %s)", o.TLS, strings.Join(TLSPolicies, ", "))
	}
	if o.TLSSkipVerify && o.TLS == TLSNone {
		add("tls_skip_verify", "has no effect with tls: none")
	}

	switch {
	case o.Port < 0 || o.Port > 65535:
		add("port", "must be between 1 and 65535, got %d", o.Port)
	case o.Port != 0 && o.Endpoint != "":
		add("port", "set either port or endpoint, not both")
	case o.Port != 0 || o.Endpoint != "":
		// Port is unused with an endpoint, so it stays 0.
	case o.TLS == TLSSSL:
		o.Port = DefaultSSLPort
	default:
		o.Port = DefaultPort
	}
	if o.Endpoint != "" {
		h, p, err := net.SplitHostPort(o.Endpoint)
		n, perr := strconv.Atoi(p)
		if err != nil || h == "" || perr != nil || n < 1 || n > 65535 {
			add("endpoint", `want "host:port", got %q`, o.Endpoint)
		}
	}

	switch {
	case o.Username != "" && o.Password == "":
		add("username", `needs "password" too`)
	case o.Username == "" && o.Password != "":
		add("password", `needs "username" too`)
	}
	switch {
	case o.Auth != "" && !slices.Contains(AuthMechanisms, o.Auth):
		add("auth", "unknown auth mechanism %q (want one of %s)", o.Auth, strings.Join(AuthMechanisms, ", "))
	case o.Auth != "" && o.Username == "":
		add("auth", `needs "username" and "password"`)
	case o.Auth == "" && o.Username != "":
		o.Auth = AuthAuto
	}

	if o.From == "" {
		missing("from")
	} else if a, err := mail.ParseAddress(o.From); err != nil {
		add("from", "not an RFC 5322 address: %q", o.From)
	} else if !strings.Contains(a.Address, "@") {
		add("from", "address has no domain: %q", o.From)
	}
	if o.ReplyTo != "" {
		if _, err := mail.ParseAddress(o.ReplyTo); err != nil {
			add("reply_to", "not an RFC 5322 address: %q", o.ReplyTo)
		}
	}

	if o.HELO == "" {
		// The host name is what go-mail and most MTAs use; "localhost"
		// is the fallback net/smtp uses.
		o.HELO = "localhost"
		if h, err := os.Hostname(); err == nil && validHELO(h) {
			o.HELO = h
		}
	} else if !validHELO(o.HELO) {
		add("helo", "want a domain name or address literal, got %q", o.HELO)
	}
	return o, ps
}

func validHELO(s string) bool {
	return s != "" && len(s) <= 255 && !strings.ContainsAny(s, " \t\r\n")
}

// addr is where to connect.
func (o *Options) addr() string {
	if o.Endpoint != "" {
		return o.Endpoint
	}
	return net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
}

// optionLineFor locates a problem: at its key, or at the channel for a key
// that is missing.
func optionLineFor(cfg *config.Channel, key string, missing bool) int {
	if missing {
		return cfg.Line
	}
	return cfg.OptionLine(key)
}
