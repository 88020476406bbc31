// Package config loads and validates Switchboard's YAML configuration:
// strict decoding, ${VAR} secrets from the environment, defaults beside the
// types, and errors that name the file, line and key.
package config

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole gateway configuration.
type Config struct {
	Server    Server     `yaml:"server"`
	Store     Store      `yaml:"store"`
	Auth      Auth       `yaml:"auth"`
	Dispatch  Dispatch   `yaml:"dispatch"`
	Callbacks Callbacks  `yaml:"callbacks"`
	Inbound   Inbound    `yaml:"inbound"`
	Log       Log        `yaml:"log"`
	Channels  []*Channel `yaml:"-"` // in file order; decoded from the "channels" mapping
	Policies  []*Policy  `yaml:"policies"`

	// Path is the file the config was loaded from ("" for embedded defaults).
	Path string `yaml:"-"`
	// EnvDefaults are the ${VAR:-default} references whose default was
	// used (VAR unset or empty), in file order.
	EnvDefaults []EnvDefault `yaml:"-"`

	// lines locates key paths for validation errors; nil for a Config
	// built in code. A pointer, so %v of a Config stays readable.
	lines *lineTable
}

// Server is the HTTP listener.
type Server struct {
	Listen    string `yaml:"listen"`     // default ":8080"
	PublicURL string `yaml:"public_url"` // used for provider callbacks
	// MaxBodyBytes limits request bodies; default 64 KiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ShutdownTimeout bounds graceful shutdown; default 15s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// TrustedProxies are the reverse proxies (CIDRs or IP addresses) whose
	// X-Forwarded-For and X-Forwarded-Proto headers are believed. A request
	// from any other address is judged by its own connection: its client
	// address is the peer's, and it came over HTTPS only if the connection
	// is TLS. Empty (the default): no proxy is trusted.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// TLS makes the listener serve HTTPS (see TLS); default plain HTTP.
	TLS TLS `yaml:"tls"`
	// MetricsListen, if set, serves GET /metrics on this address (plain
	// HTTP, such as "127.0.0.1:9090") and no longer on Listen, which
	// faces the internet when providers call webhooks.
	MetricsListen string `yaml:"metrics_listen"`
}

// TrustedProxyPrefixes returns server.trusted_proxies parsed; entries that
// do not parse (only in a config that skipped validation) are left out.
func (s Server) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, e := range s.TrustedProxies {
		if p, err := ParseTrustedProxy(e); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Store selects the message store.
type Store struct {
	Driver string `yaml:"driver"` // "sqlite" (default)
	DSN    string `yaml:"dsn"`    // sqlite: file path; default "data/switchboard.db"
	// Retention deletes messages accepted longer ago than this once
	// nothing more will happen to them (final, no callback pending), with
	// their attempts; 0 (the default) keeps every message. At least 1h.
	Retention Duration `yaml:"retention"`
}

// Auth holds the API keys.
type Auth struct {
	Keys []APIKey `yaml:"keys"`
}

// Role is what an API key may do: send (business apps: send, look up a
// message by id, explain a route), read (support: look up and list messages,
// see channels) or admin (ops: everything, including channel overrides).
type Role string

const (
	RoleSend  Role = "send"
	RoleRead  Role = "read"
	RoleAdmin Role = "admin"
)

// APIKey is one bearer key.
type APIKey struct {
	Name string `yaml:"name"`
	Key  Secret `yaml:"key"`
	Role Role   `yaml:"role"`
	// CallbackSecret signs status callbacks for messages this key sent
	// (Switchboard-Signature). Default: derived from Key, so callbacks are
	// signed out of the box; set it to rotate it apart from the key.
	CallbackSecret Secret `yaml:"callback_secret"`
	// CallbackSecrets, during a rotation, sign with each ([new, old]): the
	// header carries one v1= per secret, so receivers holding either
	// verify. Setting it and CallbackSecret both is a config error.
	CallbackSecrets []Secret `yaml:"callback_secrets"`
	// Rate caps this key's sends ("50/s"; zero: unlimited): a token
	// bucket per key and per instance, one token per message (a batch
	// item is one). Burst is the bucket size; default one second's worth
	// of Rate, at least 1.
	Rate  Rate `yaml:"rate"`
	Burst int  `yaml:"burst"`
}

// RateBurst is the key's token bucket size: Burst, or one second's worth
// of Rate (at least 1).
func (k APIKey) RateBurst() int {
	if k.Burst > 0 {
		return k.Burst
	}
	return k.Rate.Burst()
}

// CallbackSigningSecret returns the secret that signs this key's callbacks
// (the first of CallbackSigningSecrets: the newest during a rotation).
func (k APIKey) CallbackSigningSecret() string { return k.CallbackSigningSecrets()[0] }

// CallbackSigningSecrets returns the secrets that sign this key's
// callbacks, one v1= each: CallbackSecrets, else CallbackSecret, else one
// derived from Key. Never empty.
func (k APIKey) CallbackSigningSecrets() []string {
	if len(k.CallbackSecrets) > 0 {
		out := make([]string, len(k.CallbackSecrets))
		for i, s := range k.CallbackSecrets {
			out[i] = s.Reveal()
		}
		return out
	}
	if k.CallbackSecret != "" {
		return []string{k.CallbackSecret.Reveal()}
	}
	mac := hmac.New(sha256.New, []byte(k.Key.Reveal()))
	mac.Write([]byte("switchboard status callbacks"))
	return []string{"whsec_" + hex.EncodeToString(mac.Sum(nil))}
}

// Callbacks configures status callbacks to business apps.
//
// A callback_url is chosen by whoever holds a send key, so by default the
// gateway only calls public addresses: not loopback, private (RFC 1918,
// RFC 4193), shared (CGNAT), link-local (169.254.169.254, the cloud
// metadata service), multicast, unspecified or reserved ones. The check is
// made on the address each connection is opened to, after DNS, so a name
// that resolves elsewhere on the next lookup (DNS rebinding) gains nothing.
// AllowPrivateNetworks and AllowHosts open it up; a reload applies them.
type Callbacks struct {
	Timeout Duration `yaml:"timeout"` // one POST; default 10s
	Horizon Duration `yaml:"horizon"` // give up after this long; default 24h
	Workers int      `yaml:"workers"` // concurrent POSTs; default 8
	// PerHost caps the concurrent POSTs to one destination (scheme, host
	// and port), so an app whose endpoint hangs cannot hold every worker;
	// default 2. Each destination also has its own circuit breaker.
	PerHost int `yaml:"per_host"`
	// AllowPrivateNetworks lets callbacks reach loopback, private (RFC
	// 1918, RFC 4193) and shared (CGNAT, 100.64.0.0/10) addresses; default
	// false. Link-local addresses (the cloud metadata service lives at
	// 169.254.169.254), known metadata addresses, multicast, unspecified
	// and reserved ones stay refused: only AllowHosts opens those.
	AllowPrivateNetworks bool `yaml:"allow_private_networks"`
	// AllowHosts are allowed whatever their address: a CIDR ("10.1.2.0/24",
	// "fd00:1::/64"), an IP address (one host), or a host name
	// ("hooks.internal", exactly that name, not its subdomains), which
	// allows whatever addresses that name resolves to. See ParseAllowHost.
	AllowHosts []string `yaml:"allow_hosts"`
}

// Log configures the gateway's log (stderr). serve's --log-level and
// --log-format flags win over it.
type Log struct {
	// Level is debug, info, warn or error; default info. A reload applies
	// a new level at once.
	Level string `yaml:"level"`
	// Format is text (logfmt) or json; default text. Changing it needs a
	// restart.
	Format string `yaml:"format"`
}

// Dispatch tunes the routing core's work loop.
type Dispatch struct {
	Workers   int      `yaml:"workers"`    // concurrent sends; default 64
	BatchSize int      `yaml:"batch_size"` // messages claimed per poll; default 128
	Lease     Duration `yaml:"lease"`      // how long a claim holds unless renewed; default 10s
	Poll      Duration `yaml:"poll"`       // idle poll interval; default 200ms
}

// Channel is one configured provider account. Keys common to every channel
// type are decoded here; the rest (type-specific: account_sid, latency, ...)
// stay in Options and are decoded strictly by the channel type's package
// with (*Channel).DecodeOptions.
type Channel struct {
	Name        string   `yaml:"-"`
	Type        string   `yaml:"type"`
	Kind        string   `yaml:"kind"` // required for sim; provider types imply it
	SendTimeout Duration `yaml:"send_timeout"`
	// Rate caps sends on this channel ("30/s"); messages over it wait
	// their turn instead of failing. Zero: unlimited.
	Rate    Rate    `yaml:"rate"`
	Retry   Retry   `yaml:"retry"`
	Breaker Breaker `yaml:"breaker"`
	Probe   Probe   `yaml:"probe"`
	// Receipts is the receipt breaker: silent-outage detection from
	// delivery receipts (see ReceiptHealth).
	Receipts ReceiptHealth `yaml:"receipts"`
	// Cost and Budget: what a message on this channel costs, and how much
	// it may spend per UTC day (see cost.go). Nil: none.
	Cost   *Cost   `yaml:"cost"`
	Budget *Budget `yaml:"budget"`

	// Options is the channel's YAML mapping with the common keys above removed.
	Options yaml.Node `yaml:"-"`
	// File and Line locate the channel's key in the config file.
	File string `yaml:"-"`
	Line int    `yaml:"-"`

	// expanded marks Options scalars that came from ${VAR}, so option
	// errors quote the reference, never the environment's value.
	expanded map[*yaml.Node]string
}

// Retry is a channel's transient-error retry budget.
type Retry struct {
	Attempts   int      `yaml:"attempts"`    // total tries on this channel; default 3
	Backoff    Duration `yaml:"backoff"`     // first backoff; default 500ms, doubled each try, with jitter
	MaxBackoff Duration `yaml:"max_backoff"` // default 30s
}

// Breaker configures a channel's circuit breaker.
type Breaker struct {
	// Failures in a row that open the breaker; default 5.
	Failures int `yaml:"failures"`
	// OpenFor is how long the breaker stays open before letting a trial
	// request through (half-open); default 30s.
	OpenFor Duration `yaml:"open_for"`
	// HalfOpenRequests is how many trial requests half-open allows; default 1.
	HalfOpenRequests int `yaml:"half_open_requests"`
}

// Probe configures a channel's active health check.
type Probe struct {
	Interval     Duration `yaml:"interval"`      // default 10s
	Timeout      Duration `yaml:"timeout"`       // default 5s
	FailAfter    int      `yaml:"fail_after"`    // failed probes in a row to go down; default 3
	RecoverAfter int      `yaml:"recover_after"` // good probes in a row to come back; default 2
	Disabled     bool     `yaml:"disabled"`      // no probe loop; state follows overrides only
}

// ReceiptHealth configures a channel's receipt breaker. Every send that
// expects a delivered receipt (its policy has a receipt_timeout for the
// channel) is judged in a sliding window: confirmed when the receipt came in
// time, unconfirmed when the deadline passed without it. When, in the
// window, at least MinSends were judged and fewer than MinConfirmedRatio of
// them were confirmed (or more than a tenth of the receipts came after their
// deadline: receipt latency p90 over the deadline), the channel is "silent":
// it accepts messages but does not deliver them. A silent channel is skipped
// like an open breaker (failover trigger "silent"), messages already waiting
// on it fail over at once, and a CanaryRatio share of the messages that skip
// it also go through it, in parallel with their fallback; RecoverAfter
// canaries confirmed in a row make it healthy again. A channel that no
// policy gives a receipt_timeout never goes silent.
type ReceiptHealth struct {
	Window            Duration `yaml:"window"`              // sliding window; default 5m
	MinSends          int      `yaml:"min_sends"`           // judged sends needed to decide; default 5
	MinConfirmedRatio float64  `yaml:"min_confirmed_ratio"` // silent below this share confirmed in time; default 0.2
	CanaryRatio       float64  `yaml:"canary_ratio"`        // share of skipping messages also sent as canaries; default 0.05
	// CanaryTo lists addresses (of the channel's kind) that always get a
	// canary while the channel is silent: a test phone ops watch.
	CanaryTo     []string `yaml:"canary_to"`
	RecoverAfter int      `yaml:"recover_after"` // canaries confirmed in a row to recover; default 3
	// Disabled turns the receipt breaker off for this channel.
	Disabled bool `yaml:"disabled"`
}

// Trigger is a reason to move on to the next channel of a route.
type Trigger string

const (
	TriggerError       Trigger = "error"
	TriggerBreakerOpen Trigger = "breaker_open"
	TriggerUnhealthy   Trigger = "unhealthy"
	TriggerNoReceipt   Trigger = "no_receipt"
	TriggerUndelivered Trigger = "undelivered"
	// TriggerSilent: the channel's receipt breaker says it accepts messages
	// but does not deliver them (see ReceiptHealth).
	TriggerSilent Trigger = "silent"
	// TriggerNoRead: a message delivered on a channel whose kind has a
	// read_timeout was not read in that time. Not in AllTriggers: a
	// policy asks for it by name.
	TriggerNoRead Trigger = "no_read"
)

// AllTriggers is the default failover_on.
var AllTriggers = []Trigger{TriggerError, TriggerBreakerOpen, TriggerUnhealthy, TriggerNoReceipt, TriggerUndelivered, TriggerSilent}

// Policy maps messages to a route.
type Policy struct {
	Name           string              `yaml:"name"`
	Match          Match               `yaml:"match"`
	Route          []string            `yaml:"route"`
	FailoverOn     []Trigger           `yaml:"failover_on"`     // default AllTriggers
	ReceiptTimeout map[string]Duration `yaml:"receipt_timeout"` // channel name -> deadline for a delivered receipt
	TTL            Duration            `yaml:"ttl"`             // default 24h
	// ReadTimeout maps a channel kind ("whatsapp") to how long a message
	// delivered on a channel of that kind may go unread before the route
	// moves on (trigger no_read, which failover_on must list).
	ReadTimeout map[string]Duration `yaml:"read_timeout"`
	// OnAmbiguous says what to do when a send may or may not have reached
	// the provider (a timeout after the request was written): "failover"
	// (default: try the next channel; the customer may get the message
	// twice, and the attempt says so) or "assume_sent" (treat it as sent and
	// wait for a receipt; never a duplicate, but possibly nothing).
	OnAmbiguous string `yaml:"on_ambiguous"`
	// Limits and Countries are abuse controls (see countries.go).
	Limits    Limits    `yaml:"limits"`
	Countries Countries `yaml:"countries"`
	// QuietHours: no provider gets a message inside the window (quiet.go).
	QuietHours *QuietHours `yaml:"quiet_hours"`

	Line int `yaml:"-"`
}

// Policy.OnAmbiguous values.
const (
	AmbiguousFailover   = "failover"
	AmbiguousAssumeSent = "assume_sent"
)

// Match selects a policy: every key given must fit, an absent key fits
// anything (see Match.Fits in match.go).
type Match struct {
	Tags []string `yaml:"tags"` // any tag in common
	// Countries: the destination country (of the phone number, else the
	// whatsapp number; ISO 3166 alpha-2) is one of these.
	Countries []string `yaml:"countries"`
}

// FailsOverOn reports whether t is one of the policy's triggers.
func (p *Policy) FailsOverOn(t Trigger) bool {
	for _, x := range p.FailoverOn {
		if x == t {
			return true
		}
	}
	return false
}

// Duration is a time.Duration written as "30s", "10m", "1h30m" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Secret is a string that never prints: fmt, logs and JSON show <redacted>.
type Secret string

const redacted = "<redacted>"

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return redacted }

// MarshalJSON keeps secrets out of JSON dumps of the config.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalYAML keeps secrets out of YAML dumps of the config.
func (s Secret) MarshalYAML() (any, error) { return redacted, nil }

// Reveal returns the secret's value, for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }
