package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// lineTable maps key paths to lines, recorded while decoding, so validation
// can work on typed values and still point at the file.
type lineTable struct{ m map[string]int }

// line returns the line of key, or of its nearest recorded parent: a
// missing key is reported where its parent is.
func (t *lineTable) line(key string) int {
	if t == nil {
		return 0
	}
	for key != "" {
		if l, ok := t.m[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return 0
		}
		key = key[:i]
	}
	return 0
}

// Kinds a channel may declare; the channels package maps them to its Kind.
var kinds = []string{"whatsapp", "sms", "email", "telegram"}

var (
	roles       = []Role{RoleSend, RoleRead, RoleAdmin}
	channelName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
)

// minKeyLen is the shortest API key accepted: a short key can be guessed or
// brute-forced against the API.
const minKeyLen = 16

// maxKeyBurst bounds auth.keys[].burst: a bigger bucket is no limit.
const maxKeyBurst = 1_000_000

// Validate checks c as Parse does after decoding and returns Errors (in
// file order when c was loaded from a file) or nil.
func (c *Config) Validate() error {
	errs := c.validate(nil)
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b *Error) int { return a.Line - b.Line })
	return errs
}

type checker struct {
	c    *Config
	errs Errors
	// failed are key paths that did not decode (see decoder.failed).
	failed map[string]bool
}

func (v *checker) errorf(key, format string, args ...any) {
	for k := key; k != ""; {
		if v.failed[k] {
			return
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	v.errs = append(v.errs, &Error{File: v.c.Path, Line: v.c.lines.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// positive reports a duration that must be > 0.
func (v *checker) positive(key string, d Duration) {
	if d <= 0 {
		v.errorf(key, "must be greater than 0, got %s", d)
	}
}

func (v *checker) atLeast(key string, n, min int) {
	if n < min {
		v.errorf(key, "must be at least %d, got %d", min, n)
	}
}

// validate stays quiet about key paths in failed (and what is under them):
// they did not decode, so they hold defaults, not what the file says.
func (c *Config) validate(failed map[string]bool) Errors {
	v := &checker{c: c, failed: failed}
	v.server()
	v.store()
	v.dispatch()
	v.log()
	v.auth()
	v.inbound() // config/inbound.go
	v.channels()
	// A channels section that did not decode would make every route
	// entry an "unknown channel".
	v.policies(failed["channels"])
	return v.errs
}

func (v *checker) server() {
	s := &v.c.Server
	if s.Listen == "" {
		v.errorf("server.listen", "empty: give an address such as \":8080\"")
	}
	if s.PublicURL != "" {
		if u, err := url.Parse(s.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errorf("server.public_url", "%q is not an absolute http(s) URL; providers call it back", s.PublicURL)
		}
	}
	if s.MaxBodyBytes <= 0 {
		v.errorf("server.max_body_bytes", "must be greater than 0, got %d", s.MaxBodyBytes)
	}
	v.positive("server.shutdown_timeout", s.ShutdownTimeout)
	for i, e := range s.TrustedProxies {
		if _, err := ParseTrustedProxy(e); err != nil {
			v.errorf(fmt.Sprintf("server.trusted_proxies[%d]", i), "%v", err)
		}
	}
	v.tls()           // config/tls.go
	v.metricsListen() // config/tls.go
}

func (v *checker) store() {
	s := &v.c.Store
	switch s.Driver {
	case "sqlite":
		if s.DSN == "" {
			v.errorf("store.dsn", "empty: give the database file, such as \"data/switchboard.db\"")
		}
	case "postgres":
		// The DSN's content is checked when the store connects: a URL or a
		// keyword/value string, usually "${DATABASE_URL}".
		switch {
		// Defaults are set before the keys are read, so a postgres store
		// without a dsn has SQLite's default file here.
		case s.DSN == "" || s.DSN == "data/switchboard.db":
			v.errorf("store.dsn", "empty: give the database URL, such as \"${DATABASE_URL}\" or \"postgres://switchboard@db.example.com/switchboard\"")
		case !strings.HasPrefix(s.DSN, "postgres://") && !strings.HasPrefix(s.DSN, "postgresql://") && !strings.Contains(s.DSN, "="):
			v.errorf("store.dsn", "not a PostgreSQL URL (postgres://user:password@host/db) or keyword/value string (host=... dbname=...)")
		}
	default:
		v.errorf("store.driver", "unknown driver %q (want sqlite or postgres)", s.Driver)
	}
	if r := s.Retention.D(); r != 0 && r < time.Hour {
		v.errorf("store.retention", "%s is too short: use 0 to keep every message, or at least 1h (such as 720h for 30 days)", r)
	}
}

func (v *checker) dispatch() {
	d := &v.c.Dispatch
	v.atLeast("dispatch.workers", d.Workers, 1)
	v.atLeast("dispatch.batch_size", d.BatchSize, 1)
	v.positive("dispatch.lease", d.Lease)
	v.positive("dispatch.poll", d.Poll)
	cb := &v.c.Callbacks
	v.atLeast("callbacks.workers", cb.Workers, 1)
	v.atLeast("callbacks.per_host", cb.PerHost, 1)
	v.positive("callbacks.timeout", cb.Timeout)
	v.positive("callbacks.horizon", cb.Horizon)
	for i, h := range cb.AllowHosts {
		if _, _, err := ParseAllowHost(h); err != nil {
			v.errorf(fmt.Sprintf("callbacks.allow_hosts[%d]", i), "%v", err)
		}
	}
}

func (v *checker) log() {
	l := &v.c.Log
	if _, err := ParseLogLevel(l.Level); err != nil {
		v.errorf("log.level", "unknown level %q (want debug, info, warn or error)", l.Level)
	}
	if l.Format != "text" && l.Format != "json" {
		v.errorf("log.format", "unknown format %q (want text or json)", l.Format)
	}
}

// ParseLogLevel parses a log level: debug, info, warn or error (any case).
func ParseLogLevel(s string) (slog.Level, error) {
	var lv slog.Level
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		return lv, lv.UnmarshalText([]byte(s))
	}
	return lv, fmt.Errorf("unknown log level %q: want debug, info, warn or error", s)
}

func (v *checker) auth() {
	keys := v.c.Auth.Keys
	if len(keys) == 0 {
		v.errorf("auth.keys", "at least one API key is required: every /v1 route needs one")
		return
	}
	names := map[string]int{}
	values := map[Secret]int{}
	for i, k := range keys {
		p := fmt.Sprintf("auth.keys[%d]", i)
		if k.Name == "" {
			v.errorf(p, "missing required key \"name\"")
		} else if j, dup := names[k.Name]; dup {
			v.errorf(p+".name", "duplicate key name %q (also auth.keys[%d])", k.Name, j)
		} else {
			names[k.Name] = i
		}
		switch {
		case k.Role == "":
			v.errorf(p, "missing required key \"role\" (send, read or admin)")
		case !slices.Contains(roles, k.Role):
			v.errorf(p+".role", "unknown role %q (want send, read or admin)", k.Role)
		}
		// Never print the key itself: only its length and whose it is.
		switch n := len(k.Key.Reveal()); {
		case n == 0:
			v.errorf(p+".key", "empty: set a random key of at least %d characters", minKeyLen)
		case n < minKeyLen:
			v.errorf(p+".key", "too short (%d characters): use at least %d so it cannot be guessed", n, minKeyLen)
		}
		switch {
		case k.Burst < 0:
			v.errorf(p+".burst", "must be at least 1, got %d", k.Burst)
		case k.Burst > 0 && k.Rate.PerSecond() == 0:
			v.errorf(p+".burst", "needs a rate: set rate too, such as rate: \"50/s\"")
		case k.Burst > maxKeyBurst:
			v.errorf(p+".burst", "must be at most %d, got %d", maxKeyBurst, k.Burst)
		}
		v.callbackSecrets(p, k)
		if k.Key != "" {
			if j, dup := values[k.Key]; dup {
				v.errorf(p+".key", "same key as auth.keys[%d]: each key must be unique, so a request names one caller and role", j)
			} else {
				values[k.Key] = i
			}
		}
	}
}

func (v *checker) channels() {
	if len(v.c.Channels) == 0 {
		v.errorf("channels", "at least one channel is required")
		return
	}
	seen := map[string]bool{}
	for _, ch := range v.c.Channels {
		p := "channels." + ch.Name
		if !channelName.MatchString(ch.Name) {
			v.errorf(p, "bad channel name %q: use lowercase letters, digits, \"_\" and \"-\", starting with a letter", ch.Name)
		}
		// Parse rejects duplicate keys; this catches configs built in code.
		if seen[ch.Name] {
			v.errorf(p, "duplicate channel name %q", ch.Name)
		}
		seen[ch.Name] = true
		if ch.Type == "" {
			v.errorf(p, "missing required key \"type\"")
		}
		switch {
		case ch.Kind != "" && !slices.Contains(kinds, ch.Kind):
			v.errorf(p+".kind", "unknown kind %q (want whatsapp, sms, email or telegram)", ch.Kind)
		case ch.Kind == "" && ch.Type == "sim":
			v.errorf(p, "missing required key \"kind\": a sim channel must say what it simulates (whatsapp, sms, email or telegram)")
		}
		v.positive(p+".send_timeout", ch.SendTimeout)
		v.atLeast(p+".retry.attempts", ch.Retry.Attempts, 1)
		v.positive(p+".retry.backoff", ch.Retry.Backoff)
		v.positive(p+".retry.max_backoff", ch.Retry.MaxBackoff)
		if ch.Retry.Backoff > 0 && ch.Retry.MaxBackoff > 0 && ch.Retry.MaxBackoff < ch.Retry.Backoff {
			v.errorf(p+".retry.max_backoff", "%s is less than backoff %s", ch.Retry.MaxBackoff, ch.Retry.Backoff)
		}
		v.atLeast(p+".breaker.failures", ch.Breaker.Failures, 1)
		v.positive(p+".breaker.open_for", ch.Breaker.OpenFor)
		v.atLeast(p+".breaker.half_open_requests", ch.Breaker.HalfOpenRequests, 1)
		v.positive(p+".probe.interval", ch.Probe.Interval)
		v.positive(p+".probe.timeout", ch.Probe.Timeout)
		v.atLeast(p+".probe.fail_after", ch.Probe.FailAfter, 1)
		v.atLeast(p+".probe.recover_after", ch.Probe.RecoverAfter, 1)
		v.receipts(p+".receipts", ch.Receipts)
		v.cost(p, ch) // config/cost.go
	}
}

func (v *checker) policies(channelsBroken bool) {
	if len(v.c.Policies) == 0 {
		v.errorf("policies", "at least one policy is required")
		return
	}
	defined := make([]string, len(v.c.Channels))
	for i, ch := range v.c.Channels {
		defined[i] = ch.Name
	}
	names := map[string]int{}
	for i, pol := range v.c.Policies {
		p := fmt.Sprintf("policies[%d]", i)
		if pol == nil {
			v.errorf(p, "empty policy")
			continue
		}
		switch j, dup := names[pol.Name]; {
		case pol.Name == "":
			v.errorf(p, "missing required key \"name\"")
		case dup:
			v.errorf(p+".name", "duplicate policy name %q (also policies[%d])", pol.Name, j)
		default:
			names[pol.Name] = i
		}
		switch {
		case pol.Route == nil:
			v.errorf(p, "missing required key \"route\"")
		case len(pol.Route) == 0:
			v.errorf(p+".route", "empty: list at least one channel")
		}
		inRoute := map[string]int{}
		for j, name := range pol.Route {
			rp := fmt.Sprintf("%s.route[%d]", p, j)
			if k, dup := inRoute[name]; dup {
				v.errorf(rp, "channel %q is already in the route at route[%d]", name, k)
				continue
			}
			inRoute[name] = j
			if !channelsBroken && !slices.Contains(defined, name) {
				msg := fmt.Sprintf("unknown channel %q (defined: %s)", name, strings.Join(defined, ", "))
				if s := suggest(name, defined); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				v.errorf(rp, "%s", msg)
			}
		}
		if pol.FailoverOn != nil && len(pol.FailoverOn) == 0 {
			v.errorf(p+".failover_on", "empty: leave it out to fail over on every trigger")
		}
		for j, t := range pol.FailoverOn {
			if !slices.Contains(AllTriggers, t) && t != TriggerNoRead {
				v.errorf(fmt.Sprintf("%s.failover_on[%d]", p, j), "unknown trigger %q (want error, breaker_open, unhealthy, no_receipt, undelivered, silent or no_read)", t)
			}
		}
		for _, name := range sortedKeys(pol.ReceiptTimeout) {
			rp := p + ".receipt_timeout." + name
			if _, ok := inRoute[name]; !ok {
				v.errorf(rp, "channel %q is not in this policy's route", name)
			}
			v.positive(rp, pol.ReceiptTimeout[name])
		}
		v.readTimeout(p, pol)
		v.positive(p+".ttl", pol.TTL)
		if pol.OnAmbiguous != AmbiguousFailover && pol.OnAmbiguous != AmbiguousAssumeSent {
			v.errorf(p+".on_ambiguous", "unknown value %q (want %s or %s)", pol.OnAmbiguous, AmbiguousFailover, AmbiguousAssumeSent)
		}
		v.checkAbuse(p, pol)
		v.checkQuiet(p, pol.QuietHours)
		v.checkMatch(p, pol.Match) // config/match.go
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// receipts checks a channel's receipt breaker settings.
func (v *checker) receipts(p string, r ReceiptHealth) {
	v.positive(p+".window", r.Window)
	if r.Window > 0 && r.Window.D() < 10*time.Second {
		v.errorf(p+".window", "%s is too short to judge receipts: use at least 10s", r.Window)
	}
	v.atLeast(p+".min_sends", r.MinSends, 1)
	v.atLeast(p+".recover_after", r.RecoverAfter, 1)
	for _, f := range []struct {
		key string
		val float64
	}{{"min_confirmed_ratio", r.MinConfirmedRatio}, {"canary_ratio", r.CanaryRatio}} {
		if f.val <= 0 || f.val > 1 {
			v.errorf(p+"."+f.key, "%g is out of range: want a share above 0 and at most 1 (0.2 is 20%%)", f.val)
		}
	}
	for i, to := range r.CanaryTo {
		if strings.TrimSpace(to) == "" {
			v.errorf(fmt.Sprintf("%s.canary_to[%d]", p, i), "empty address")
		}
	}
}

// callbackSecrets checks an API key's callback_secret(s); p is the key's
// path ("auth.keys[0]"). Secrets are never printed.
func (v *checker) callbackSecrets(p string, k APIKey) {
	if k.CallbackSecret != "" && len(k.CallbackSecrets) > 0 {
		v.errorf(p+".callback_secrets", "set callback_secret or callback_secrets, not both: during a rotation list every secret in callback_secrets ([new, old])")
	}
	if k.CallbackSecrets != nil && len(k.CallbackSecrets) == 0 {
		v.errorf(p+".callback_secrets", "empty list: give at least one secret, or remove the key to use the default")
	}
	seen := map[Secret]int{}
	for i, s := range k.CallbackSecrets {
		q := fmt.Sprintf("%s.callback_secrets[%d]", p, i)
		if s == "" {
			v.errorf(q, "empty secret")
			continue
		}
		if j, dup := seen[s]; dup {
			v.errorf(q, "same secret as callback_secrets[%d]", j)
		}
		seen[s] = i
	}
}
