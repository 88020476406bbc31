package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// env returns a lookup over the given NAME=value pairs, so tests never
// depend on (or change) the process environment.
func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		m[k] = v
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// errLines splits a load error into its lines, the form the tests compare.
func errLines(t *testing.T, err error) []string {
	t.Helper()
	require.Error(t, err)
	var es Errors
	require.True(t, errors.As(err, &es), "want config.Errors, got %T: %v", err, err)
	return strings.Split(err.Error(), "\n")
}

func TestTestdataErrors(t *testing.T) {
	t.Parallel()
	tests := map[string][]string{
		"unknown_keys.yaml": {
			`testdata/unknown_keys.yaml:4: server: unknown key "shutdown_timout"; did you mean "shutdown_timeout"?`,
			`testdata/unknown_keys.yaml:5: unknown key "stor"; did you mean "store"?`,
			`testdata/unknown_keys.yaml:9: auth.keys[0]: unknown key "scope"`,
			`testdata/unknown_keys.yaml:16: channels.whatsapp.retry: unknown key "max_backof"; did you mean "max_backoff"?`,
			`testdata/unknown_keys.yaml:17: channels.whatsapp.breaker: unknown key "open"`,
			`testdata/unknown_keys.yaml:21: policies[0].match: unknown key "tag"; did you mean "tags"?`,
			`testdata/unknown_keys.yaml:22: policies[0]: unknown key "tll"; did you mean "ttl"?`,
		},
		"routes.yaml": {
			`testdata/routes.yaml:11: policies[0].route[2]: unknown channel "tg" (defined: whatsapp, sms, email, telegram)`,
			`testdata/routes.yaml:11: policies[0].route[3]: channel "sms" is already in the route at route[1]`,
			`testdata/routes.yaml:11: policies[0].route[4]: unknown channel "emial" (defined: whatsapp, sms, email, telegram); did you mean "email"?`,
			`testdata/routes.yaml:12: policies[0].failover_on[1]: unknown trigger "timeout" (want error, breaker_open, unhealthy, no_receipt, undelivered, silent or no_read)`,
			`testdata/routes.yaml:13: policies[0].receipt_timeout.sms: must be greater than 0, got 0s`,
			`testdata/routes.yaml:13: policies[0].receipt_timeout.telegram: channel "telegram" is not in this policy's route`,
			`testdata/routes.yaml:14: policies[1].name: duplicate policy name "otp" (also policies[0])`,
			`testdata/routes.yaml:15: policies[1].route: empty: list at least one channel`,
			`testdata/routes.yaml:16: policies[1].ttl: must be greater than 0, got 0s`,
			`testdata/routes.yaml:17: policies[2]: missing required key "name"`,
		},
		"auth.yaml": {
			`testdata/auth.yaml:4: auth.keys[0].key: environment variable SHOP_KEY is not set (set it, or give a default: ${SHOP_KEY:-default})`,
			`testdata/auth.yaml:6: auth.keys[1].name: duplicate key name "shop" (also auth.keys[0])`,
			`testdata/auth.yaml:7: auth.keys[1].key: too short (9 characters): use at least 16 so it cannot be guessed`,
			`testdata/auth.yaml:8: auth.keys[1].role: unknown role "writer" (want send, read or admin)`,
			`testdata/auth.yaml:12: auth.keys[3]: missing required key "role" (send, read or admin)`,
			`testdata/auth.yaml:13: auth.keys[3].key: same key as auth.keys[2]: each key must be unique, so a request names one caller and role`,
			`testdata/auth.yaml:14: auth.keys[4]: missing required key "name"`,
			`testdata/auth.yaml:14: auth.keys[4].key: empty: set a random key of at least 16 characters`,
			`testdata/auth.yaml:19: auth.keys[5].rate: bad value "50/fortnight": unknown unit "fortnight" after the / (want s, m or h)`,
			`testdata/auth.yaml:20: auth.keys[5].burst: must be at least 1, got -1`,
			`testdata/auth.yaml:24: auth.keys[6].burst: needs a rate: set rate too, such as rate: "50/s"`,
		},
		"channels.yaml": {
			`testdata/channels.yaml:3: channels.whatsapp: missing required key "type"`,
			`testdata/channels.yaml:5: channels.whatsapp.send_timeout: bad duration "10 seconds": use a Go duration such as 30s, 1h30m or 500ms`,
			`testdata/channels.yaml:6: channels.SMS: bad channel name "SMS": use lowercase letters, digits, "_" and "-", starting with a letter`,
			`testdata/channels.yaml:6: channels.SMS.retry.attempts: must be at least 1, got 0`,
			`testdata/channels.yaml:6: channels.SMS.retry.max_backoff: 1s is less than backoff 2s`,
			`testdata/channels.yaml:7: channels.fax.probe.fail_after: expected an integer, got "many"`,
			`testdata/channels.yaml:7: channels.fax.kind: unknown kind "fax" (want whatsapp, sms, email or telegram)`,
			`testdata/channels.yaml:7: channels.fax.probe.interval: must be greater than 0, got 0s`,
			`testdata/channels.yaml:8: channels.email: expected a mapping of channel settings, got a list`,
		},
	}
	files, err := filepath.Glob("testdata/*.yaml")
	require.NoError(t, err)
	require.Len(t, files, len(tests), "every testdata file needs expected errors")
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", name)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			_, err = ParseWithEnv(path, data, env())
			require.Equal(t, want, errLines(t, err))
		})
	}
}

// okRest completes a config whose first lines a test case writes.
const okRest = `
auth:
  keys: [{name: shop, key: "0123456789abcdef", role: send}]
channels:
  whatsapp: {type: sim, kind: whatsapp}
  sms: {type: sim, kind: sms}
policies:
  - {name: otp, route: [whatsapp, sms]}
`

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		env  []string
		want []string
	}{
		{
			name: "empty file",
			yaml: "",
			want: []string{
				`t.yaml: auth.keys: at least one API key is required: every /v1 route needs one`,
				`t.yaml: channels: at least one channel is required`,
				`t.yaml: policies: at least one policy is required`,
			},
		},
		{
			name: "syntax error",
			yaml: "server:\n  listen: [\n",
			want: []string{`t.yaml:2: did not find expected node content`},
		},
		{
			name: "top level is a list",
			yaml: "- a\n- b\n",
			want: []string{`t.yaml:1: expected a mapping of settings at the top level, got a list`},
		},
		{
			name: "second document",
			yaml: okRest + "---\nserver: {}\n",
			want: []string{`t.yaml:9: more than one YAML document (a stray "---"?); put everything in one`},
		},
		{
			name: "duplicate key",
			yaml: "server:\n  listen: \":1\"\n  listen: \":2\"\n" + okRest,
			want: []string{`t.yaml:3: server: duplicate key "listen" (first at line 2)`},
		},
		{
			name: "duplicate channel name",
			yaml: "channels:\n  sms: {type: sim, kind: sms}\n  sms: {type: sim, kind: sms}\n" +
				"auth: {keys: [{name: a, key: 0123456789abcdef, role: send}]}\npolicies: [{name: p, route: [sms]}]\n",
			want: []string{`t.yaml:3: channels: duplicate key "sms" (first at line 2)`},
		},
		{
			name: "unset variable in a channel option",
			yaml: "server: {public_url: \"${PUBLIC_URL}\"}" + okRest,
			want: []string{`t.yaml:1: server.public_url: environment variable PUBLIC_URL is not set (set it, or give a default: ${PUBLIC_URL:-default})`},
		},
		{
			name: "bad variable reference",
			yaml: "server: {listen: \"${LISTEN:8080}\"}" + okRest,
			want: []string{`t.yaml:1: server.listen: bad variable reference "${LISTEN:8080}": write ${NAME} or ${NAME:-default}`},
		},
		{
			name: "bad duration from the environment names the reference, not the value",
			yaml: "server: {shutdown_timeout: \"${GRACE}\"}" + okRest,
			env:  []string{"GRACE=hunter2-not-a-duration"},
			want: []string{`t.yaml:1: server.shutdown_timeout: bad duration "${GRACE}" (from the environment): use a Go duration such as 30s, 1h30m or 500ms`},
		},
		{
			name: "explicit zeros are not replaced by defaults",
			yaml: "dispatch: {workers: 0, lease: 0s}\nserver: {max_body_bytes: 0}" + okRest,
			want: []string{
				`t.yaml:1: dispatch.workers: must be at least 1, got 0`,
				`t.yaml:1: dispatch.lease: must be greater than 0, got 0s`,
				`t.yaml:2: server.max_body_bytes: must be greater than 0, got 0`,
			},
		},
		{
			name: "empty failover_on",
			yaml: strings.Replace(okRest, "route: [whatsapp, sms]}", "route: [whatsapp, sms], failover_on: []}", 1),
			want: []string{`t.yaml:8: policies[0].failover_on: empty: leave it out to fail over on every trigger`},
		},
		{
			name: "sim channel without kind",
			yaml: strings.Replace(okRest, "sms: {type: sim, kind: sms}", "sms: {type: sim}", 1),
			want: []string{`t.yaml:6: channels.sms: missing required key "kind": a sim channel must say what it simulates (whatsapp, sms, email or telegram)`},
		},
		{
			name: "wrong shapes",
			yaml: "server: [\":8080\"]\nauth: {keys: {name: x}}\nchannels: [sms]\npolicies: otp\n",
			want: []string{
				`t.yaml:1: server: expected a mapping, got a list`,
				`t.yaml:2: auth.keys: expected a list, got a mapping`,
				`t.yaml:3: channels: expected a mapping of channel name to settings, got a list`,
				`t.yaml:4: policies: expected a list, got a string`,
			},
		},
		{
			name: "null list entries become empty values, not nil",
			yaml: "auth: {keys: [~]}\nchannels: {sms: ~}\npolicies: [~]\n",
			want: []string{
				`t.yaml:1: auth.keys[0]: missing required key "name"`,
				`t.yaml:1: auth.keys[0]: missing required key "role" (send, read or admin)`,
				`t.yaml:1: auth.keys[0].key: empty: set a random key of at least 16 characters`,
				`t.yaml:2: channels.sms: missing required key "type"`,
				`t.yaml:3: policies[0]: missing required key "name"`,
				`t.yaml:3: policies[0]: missing required key "route"`,
			},
		},
		{
			name: "callback_secret and callback_secrets both, empty and repeated secrets",
			yaml: "auth:\n  keys:\n" +
				"    - {name: a, key: 0123456789abcdef, role: send, callback_secret: s1, callback_secrets: [s2]}\n" +
				"    - {name: b, key: 0123456789abcdeg, role: send, callback_secrets: []}\n" +
				"    - {name: c, key: 0123456789abcdeh, role: send, callback_secrets: [s3, \"\", s3]}\n" +
				"channels: {sms: {type: sim, kind: sms}}\npolicies: [{name: otp, route: [sms]}]\n",
			want: []string{
				`t.yaml:3: auth.keys[0].callback_secrets: set callback_secret or callback_secrets, not both: during a rotation list every secret in callback_secrets ([new, old])`,
				`t.yaml:4: auth.keys[1].callback_secrets: empty list: give at least one secret, or remove the key to use the default`,
				`t.yaml:5: auth.keys[2].callback_secrets[1]: empty secret`,
				`t.yaml:5: auth.keys[2].callback_secrets[2]: same secret as callback_secrets[0]`,
			},
		},
		{
			name: "bad public url and unknown driver",
			yaml: "server: {public_url: sb.example.com}\nstore: {driver: mysql}" + okRest,
			want: []string{
				`t.yaml:1: server.public_url: "sb.example.com" is not an absolute http(s) URL; providers call it back`,
				`t.yaml:2: store.driver: unknown driver "mysql" (want sqlite or postgres)`,
			},
		},
		{
			name: "callback allow_hosts entries",
			yaml: "callbacks:\n  allow_private_networks: yes please\n  allow_hosts:\n    - 10.1.2.0/24\n    - 10.1.2.3/24\n    - https://hooks.internal/cb\n    - hooks.internal:8443\n    - \"\"\n    - \"*.internal\"\n    - 10.1.2\n    - hooks.internal\n    - fd00::1\n    - \"[fd00::1]\"\n    - fe80::1%eth0\n" + okRest,
			want: []string{
				`t.yaml:2: callbacks.allow_private_networks: expected true or false, got "yes please"`,
				`t.yaml:5: callbacks.allow_hosts[1]: "10.1.2.3/24" has address bits set beyond its /24 prefix: write "10.1.2.0/24"`,
				`t.yaml:6: callbacks.allow_hosts[2]: "https://hooks.internal/cb" is a URL: give only its host, "hooks.internal"`,
				`t.yaml:7: callbacks.allow_hosts[3]: "hooks.internal:8443" has a port: give only the host (every port of an allowed host is allowed)`,
				`t.yaml:8: callbacks.allow_hosts[4]: empty: give a host name such as "hooks.internal", an IP address, or a CIDR such as "10.1.2.0/24"`,
				`t.yaml:9: callbacks.allow_hosts[5]: "*.internal": wildcards are not supported; list each host name, or give a CIDR`,
				`t.yaml:10: callbacks.allow_hosts[6]: "10.1.2" is not a host name, an IP address or a CIDR: it looks like a mistyped IP address`,
				`t.yaml:13: callbacks.allow_hosts[9]: "[fd00::1]" is not an IP address: write IPv6 addresses without brackets, such as "fd00::1"`,
				`t.yaml:14: callbacks.allow_hosts[10]: "fe80::1%eth0" has an IPv6 zone: give the address without it`,
			},
		},
		{
			name: "retention shorter than an hour",
			yaml: "store: {retention: 30m}" + okRest,
			want: []string{
				`t.yaml:1: store.retention: 30m0s is too short: use 0 to keep every message, or at least 1h (such as 720h for 30 days)`,
			},
		},
		{
			name: "postgres without a dsn",
			yaml: "store: {driver: postgres}" + okRest,
			want: []string{
				`t.yaml:1: store.dsn: empty: give the database URL, such as "${DATABASE_URL}" or "postgres://switchboard@db.example.com/switchboard"`,
			},
		},
		{
			name: "postgres dsn that is a file path",
			yaml: "store: {driver: postgres, dsn: data/sb.db}" + okRest,
			want: []string{
				`t.yaml:1: store.dsn: not a PostgreSQL URL (postgres://user:password@host/db) or keyword/value string (host=... dbname=...)`,
			},
		},
		{
			name: "postgres dsn from an unset variable",
			yaml: "store: {driver: postgres, dsn: \"${DATABASE_URL}\"}" + okRest,
			want: []string{
				`t.yaml:1: store.dsn: environment variable DATABASE_URL is not set (set it, or give a default: ${DATABASE_URL:-default})`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseWithEnv("t.yaml", []byte(tt.yaml), env(tt.env...))
			require.Equal(t, tt.want, errLines(t, err))
		})
	}
}

func TestPostgresStore(t *testing.T) {
	t.Parallel()
	c, err := ParseWithEnv("t.yaml", []byte("store: {driver: postgres, dsn: \"${DATABASE_URL}\"}"+okRest),
		env("DATABASE_URL=postgres://sb:pw@db/sb"))
	require.NoError(t, err)
	require.Equal(t, Store{Driver: "postgres", DSN: "postgres://sb:pw@db/sb"}, c.Store)
	_, err = ParseWithEnv("t.yaml", []byte("store: {driver: postgres, dsn: \"host=db dbname=sb\"}"+okRest), env())
	require.NoError(t, err)
}

func TestExampleConfig(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../config.example.yaml")
	require.NoError(t, err)
	c, err := ParseWithEnv("config.example.yaml", data, env())
	require.NoError(t, err)
	require.Equal(t, "4 channels (whatsapp, sms, email, telegram), 2 policies (otp, default), 3 API keys", c.Summary())
	require.Equal(t, "127.0.0.1:8080", c.Server.Listen, "the example's keys are published: it listens on this machine only")
	require.NoError(t, c.CheckPublishedKeys())
	require.Equal(t, Store{Driver: "sqlite", DSN: "data/switchboard.db"}, c.Store)
	require.Equal(t, "dev-send-key-0123456789", c.Auth.Keys[0].Key.Reveal())
	require.Equal(t, RoleAdmin, c.Auth.Keys[2].Role)

	wa := c.Channel("whatsapp")
	require.NotNil(t, wa)
	require.Equal(t, "sim", wa.Type)
	require.Equal(t, "whatsapp", wa.Kind)
	require.Equal(t, 2*time.Second, wa.Probe.Interval.D())
	require.Equal(t, 3, wa.Probe.FailAfter, "keys left out of probe keep their defaults")
	require.Equal(t, 15*time.Second, wa.Breaker.OpenFor.D())
	require.Equal(t, 5, wa.Breaker.Failures)
	require.Equal(t, []string{"mode", "latency", "receipt_delay"}, wa.optionKeys())

	otp := c.Policy("otp")
	require.NotNil(t, otp)
	require.Equal(t, []string{"whatsapp", "sms", "telegram", "email"}, otp.Route)
	require.Equal(t, AllTriggers, otp.FailoverOn)
	require.Equal(t, map[string]Duration{"whatsapp": Duration(30 * time.Second), "sms": Duration(time.Minute)}, otp.ReceiptTimeout)
	require.Equal(t, 10*time.Minute, otp.TTL.D())
	def := c.Policy("default")
	require.Equal(t, 24*time.Hour, def.TTL.D())
	require.Equal(t, AllTriggers, def.FailoverOn)
	require.Nil(t, c.Channel("fax"))
	require.Nil(t, c.Policy("nope"))

	// The sim channel's option keys, decoded the way channels/sim does.
	var opts struct {
		Mode         string   `yaml:"mode"`
		Latency      Duration `yaml:"latency"`
		Jitter       Duration `yaml:"jitter"`
		ReceiptDelay Duration `yaml:"receipt_delay"`
		FailureRate  float64  `yaml:"failure_rate"`
	}
	require.NoError(t, wa.DecodeOptions(&opts))
	require.Equal(t, "up", opts.Mode)
	require.Equal(t, 20*time.Millisecond, opts.Latency.D())

	// And through Load, with whatever the real environment holds.
	c, err = Load("../config.example.yaml")
	require.NoError(t, err)
	require.Equal(t, "../config.example.yaml", c.Path)
	require.Equal(t, "../config.example.yaml", c.Channels[0].File)
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := ParseWithEnv("t.yaml", []byte(okRest), env())
	require.NoError(t, err)
	require.Equal(t, Server{Listen: ":8080", MaxBodyBytes: 65536, ShutdownTimeout: Duration(15 * time.Second)}, c.Server)
	require.Equal(t, Dispatch{Workers: 64, BatchSize: 128, Lease: Duration(10 * time.Second), Poll: Duration(200 * time.Millisecond)}, c.Dispatch)
	require.Equal(t, Log{Level: "info", Format: "text"}, c.Log)
	ch := c.Channels[0]
	require.Equal(t, Duration(10*time.Second), ch.SendTimeout)
	require.Equal(t, Retry{Attempts: 3, Backoff: Duration(500 * time.Millisecond), MaxBackoff: Duration(30 * time.Second)}, ch.Retry)
	require.Equal(t, Breaker{Failures: 5, OpenFor: Duration(30 * time.Second), HalfOpenRequests: 1}, ch.Breaker)
	require.Equal(t, Probe{Interval: Duration(10 * time.Second), Timeout: Duration(5 * time.Second), FailAfter: 3, RecoverAfter: 2}, ch.Probe)
	require.Equal(t, 8, c.Policies[0].Line)
	require.Equal(t, 5, ch.Line)

	// Each policy owns its triggers: editing one leaves AllTriggers alone.
	c.Policies[0].FailoverOn[0] = "changed"
	require.Equal(t, TriggerError, AllTriggers[0])

	// A Config built in code gets the same defaults and validation.
	built := &Config{
		Auth:     Auth{Keys: []APIKey{{Name: "a", Key: "0123456789abcdef", Role: RoleSend}}},
		Channels: []*Channel{{Name: "sms", Type: "sim", Kind: "sms"}},
		Policies: []*Policy{{Name: "p", Route: []string{"sms"}}},
	}
	built.ApplyDefaults()
	require.NoError(t, built.Validate())
	built.Policies[0].Route = []string{"tg"}
	require.EqualError(t, built.Validate(), `config: policies[0].route[0]: unknown channel "tg" (defined: sms)`)
}

func TestMergeKeysAndAnchors(t *testing.T) {
	t.Parallel()
	const y = `
x-sim: &sim
  type: sim
  retry: {attempts: 5}
auth:
  keys: [{name: shop, key: "0123456789abcdef", role: send}]
channels:
  sms:
    <<: *sim
    kind: sms
  email:
    <<: *sim
    kind: email
    retry: {attempts: 1}
policies:
  - {name: otp, route: [sms, email]}
`
	// Top-level extension keys are still unknown keys: strictness wins over
	// a convention no other part of the file uses.
	_, err := ParseWithEnv("t.yaml", []byte(y), env())
	require.Equal(t, []string{`t.yaml:2: unknown key "x-sim"`}, errLines(t, err))

	const anchored = `
auth:
  keys: [{name: shop, key: "0123456789abcdef", role: send}]
channels:
  sms: &sim {type: sim, kind: sms, retry: {attempts: 5}}
  email:
    <<: *sim
    kind: email
    retry: {attempts: 1}
policies:
  - {name: otp, route: [sms, email]}
`
	c, err := ParseWithEnv("t.yaml", []byte(anchored), env())
	require.NoError(t, err)
	require.Equal(t, "sim", c.Channel("email").Type)
	require.Equal(t, "email", c.Channel("email").Kind, "explicit keys win over merged ones")
	require.Equal(t, 1, c.Channel("email").Retry.Attempts)
	require.Equal(t, 5, c.Channel("sms").Retry.Attempts)
}

func TestAliasBombFailsFast(t *testing.T) {
	t.Parallel()
	// Each channel merges the previous one ten times: 10^9 merges unless
	// expansion is bounded.
	var b strings.Builder
	b.WriteString("channels:\n  c0: &c0 {type: sim}\n")
	for i := 1; i <= 9; i++ {
		p := fmt.Sprintf("*c%d", i-1)
		fmt.Fprintf(&b, "  c%d: &c%d {<<: [%s]}\n", i, i, strings.Repeat(p+", ", 9)+p)
	}
	start := time.Now()
	_, err := ParseWithEnv("t.yaml", []byte(b.String()), env())
	require.Error(t, err)
	require.Contains(t, err.Error(), "too many alias expansions")
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestExpand(t *testing.T) {
	t.Parallel()
	lookup := env("SET=value", "EMPTY=", "SPECIAL=a: b # c\n- d\"'${NOT}")
	tests := []struct{ in, want, err string }{
		{in: "plain", want: "plain"},
		{in: "${SET}", want: "value"},
		{in: "pre-${SET}-post", want: "pre-value-post"},
		{in: "${UNSET:-fallback}", want: "fallback"},
		{in: "${EMPTY:-fallback}", want: "fallback"},
		{in: "${EMPTY}", want: ""},
		{in: "${SET:-fallback}", want: "value"},
		{in: "${UNSET:-}", want: ""},
		{in: "$$", want: "$"},
		{in: "pa$$$$word", want: "pa$$word"},
		{in: "$${SET}", want: "${SET}"},
		{in: "costs $5", want: "costs $5"},
		{in: "trailing $", want: "trailing $"},
		{in: "${SPECIAL}", want: "a: b # c\n- d\"'${NOT}"}, // expanded once, never re-parsed
		{in: "${UNSET}", err: "environment variable UNSET is not set (set it, or give a default: ${UNSET:-default})"},
		{in: "${SET", err: `unterminated "${": close it with "}", or write "$$" for a literal "$"`},
		{in: "${}", err: `bad variable reference "${}": write ${NAME} or ${NAME:-default}`},
		{in: "${1X}", err: `bad variable reference "${1X}": write ${NAME} or ${NAME:-default}`},
	}
	for _, tt := range tests {
		got, err := expand(tt.in, lookup)
		if tt.err != "" {
			require.EqualError(t, err, tt.err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
	}
}

// The expansion happens after parsing: a secret full of YAML syntax is one
// string, and the lines of everything after it do not move.
func TestSecretWithYAMLSyntax(t *testing.T) {
	t.Parallel()
	const y = `auth:
  keys:
    - {name: shop, key: "${KEY}", role: send}
channels:
  sms: {type: sim, kind: sms}
policies:
  - {name: p, route: [sms], ttl: nope}
`
	secret := "x: y\n# z\n  - [broken]} ${NOPE}"
	_, err := ParseWithEnv("t.yaml", []byte(y), env("KEY="+secret))
	require.Equal(t, []string{`t.yaml:7: policies[0].ttl: bad duration "nope": use a Go duration such as 30s, 1h30m or 500ms`}, errLines(t, err))
	c, err := ParseWithEnv("t.yaml", []byte(strings.Replace(y, "ttl: nope", "ttl: 1h", 1)), env("KEY="+secret))
	require.NoError(t, err)
	require.Equal(t, secret, c.Auth.Keys[0].Key.Reveal())
}

type nested struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
}

type testOptions struct {
	AccountSID string   `yaml:"account_sid"`
	AuthToken  Secret   `yaml:"auth_token"`
	From       []string `yaml:"from"`
	Ratio      float64  `yaml:"ratio"`
	TLS        bool     `yaml:"tls"`
	Timeout    Duration `yaml:"timeout"`
	Server     nested   `yaml:"server"`
	Keep       string   `yaml:"keep"`
}

func TestDecodeOptions(t *testing.T) {
	t.Parallel()
	const y = `auth:
  keys: [{name: shop, key: "0123456789abcdef", role: send}]
channels:
  sms:
    type: twilio-sms
    send_timeout: 5s
    account_sid: AC123
    auth_token: "${TOKEN}"
    from: ["+15005550006", "+15005550007"]
    ratio: 0.5
    tls: true
    timeout: 3s
    server: {host: smtp.example.com, port: "${PORT:-587}"}
  bad:
    type: twilio-sms
    acount_sid: AC123
    retrys: 3
    timeout: "${TIMEOUT}"
    server: {host: h, port: many, user: u}
    tls: maybe
policies:
  - {name: p, route: [sms, bad]}
`
	c, err := ParseWithEnv("t.yaml", []byte(y), env("TOKEN=s3cr3t-token", "TIMEOUT=s3cr3t-timeout"))
	require.NoError(t, err)

	sms := c.Channel("sms")
	require.Equal(t, 5*time.Second, sms.SendTimeout.D(), "common keys are decoded into Channel")
	opts := testOptions{Keep: "default"}
	require.NoError(t, sms.DecodeOptions(&opts))
	require.Equal(t, testOptions{
		AccountSID: "AC123", AuthToken: "s3cr3t-token", From: []string{"+15005550006", "+15005550007"},
		Ratio: 0.5, TLS: true, Timeout: Duration(3 * time.Second),
		Server: nested{Host: "smtp.example.com", Port: 587}, Keep: "default",
	}, opts)

	err = c.Channel("bad").DecodeOptions(&testOptions{})
	require.Equal(t, []string{
		`t.yaml:16: channels.bad: unknown key "acount_sid"; did you mean "account_sid"?`,
		`t.yaml:17: channels.bad: unknown key "retrys"; did you mean "retry"?`,
		`t.yaml:18: channels.bad.timeout: bad duration "${TIMEOUT}" (from the environment): use a Go duration such as 30s, 1h30m or 500ms`,
		`t.yaml:19: channels.bad.server.port: expected an integer, got "many"`,
		`t.yaml:19: channels.bad.server: unknown key "user"`,
		`t.yaml:20: channels.bad.tls: expected true or false, got "maybe"`,
	}, errLines(t, err))
	require.NotContains(t, err.Error(), "s3cr3t")

	var ce *Error
	require.True(t, errors.As(err, &ce), "errors.As finds the first *Error")
	require.Equal(t, 16, ce.Line)

	require.Error(t, sms.DecodeOptions(opts), "a non-pointer is a programming error")
	require.NoError(t, (&Channel{Name: "built"}).DecodeOptions(&opts), "a channel built in code has no options")
}

func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	const y = `auth:
  keys:
    - {name: shop, key: "${SB_SEND_KEY}", role: send}
channels:
  sms:
    type: twilio-sms
    auth_token: "${TWILIO_AUTH_TOKEN}"
policies:
  - {name: p, route: [sms]}
`
	const key, token = "k3y-value-0123456789", "t0ken-value-abcdef"
	c, err := ParseWithEnv("t.yaml", []byte(y), env("SB_SEND_KEY="+key, "TWILIO_AUTH_TOKEN="+token))
	require.NoError(t, err)
	js, err := json.Marshal(c)
	require.NoError(t, err)
	ym, err := yaml.Marshal(c)
	require.NoError(t, err)
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"%v value": fmt.Sprintf("%v", *c), "%+v channel": fmt.Sprintf("%+v", c.Channels[0]),
		"%#v channel": fmt.Sprintf("%#v", *c.Channels[0]), "%v keys": fmt.Sprintf("%v", c.Auth.Keys),
		"json": string(js), "yaml": string(ym), "summary": c.Summary(),
	} {
		require.NotContains(t, s, key, name)
		require.NotContains(t, s, token, name)
	}
	require.Contains(t, string(js), `"Key":"\u003credacted\u003e"`)
	require.Contains(t, string(js), `"Options":["auth_token"]`)
	require.Equal(t, key, c.Auth.Keys[0].Key.Reveal())
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	keys := []string{"listen", "public_url", "max_body_bytes", "shutdown_timeout"}
	require.Equal(t, "listen", suggest("lisen", keys))
	require.Equal(t, "listen", suggest("Listen", keys))
	require.Equal(t, "", suggest("port", keys))
	require.Equal(t, "", suggest("ab", []string{"dsn"}), "a two-letter key suggests nothing")
	require.Equal(t, 3, editDistance("kitten", "sitting"))
}

func TestSummarySingular(t *testing.T) {
	t.Parallel()
	c := &Config{
		Auth:     Auth{Keys: []APIKey{{Name: "a"}}},
		Channels: []*Channel{{Name: "sms"}},
		Policies: []*Policy{{Name: "default"}},
	}
	require.Equal(t, "1 channel (sms), 1 policy (default), 1 API key", c.Summary())
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	seeds = append(seeds, "../config.example.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(okRest))
	lookup := env("SB_SEND_KEY=0123456789abcdef0", "EMPTY=")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseWithEnv("fuzz.yaml", data, lookup)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not a non-empty config.Errors: %T %v", err, err)
			}
			return
		}
		if len(c.Channels) == 0 || len(c.Policies) == 0 {
			t.Fatalf("a valid config needs a channel and a policy: %s", c.Summary())
		}
		_ = c.Summary()
		for _, ch := range c.Channels {
			_ = ch.DecodeOptions(&testOptions{})
		}
	})
}

func TestLogSection(t *testing.T) {
	t.Parallel()
	c, err := ParseWithEnv("t.yaml", []byte("log: {level: debug, format: json}\n"+okRest), env())
	require.NoError(t, err)
	require.Equal(t, Log{Level: "debug", Format: "json"}, c.Log)

	_, err = ParseWithEnv("t.yaml", []byte("log: {level: loud, format: xml, colour: true}\n"+okRest), env())
	require.ErrorContains(t, err, `t.yaml:1: log: unknown key "colour"`)
	_, err = ParseWithEnv("t.yaml", []byte("log: {level: loud, format: xml}\n"+okRest), env())
	require.ErrorContains(t, err, `t.yaml:1: log.level: unknown level "loud" (want debug, info, warn or error)`)
	require.ErrorContains(t, err, `t.yaml:1: log.format: unknown format "xml" (want text or json)`)

	// The level applies on reload; the format needs a restart.
	d := Compare(&Config{Log: Log{Level: "info", Format: "text"}}, &Config{Log: Log{Level: "warn", Format: "json"}})
	require.Equal(t, []Change{{Key: "log.format", Old: "text", New: "json", Restart: true}}, d.NeedsRestart())
	require.Equal(t, "~ log.level: info → warn\n~ log.format: text → json (needs a restart)", d.String())
}

func TestOptionLineFollowsNestedPaths(t *testing.T) {
	t.Parallel()
	yml := `channels:
  wa:
    type: sim
    kind: whatsapp
    template:
      name: otp_code
      body_params:
        - body
        - metadata.code
    content_variables:
      "1": metadata.code
    shared: &s {a: 1}
    alias: *s
policies:
  - name: default
    route: [wa]
`
	// ParseWithEnv would refuse the unknown sim options; OptionLine only
	// needs the channel as decoded, options kept as YAML.
	var doc struct {
		Channels map[string]yaml.Node `yaml:"channels"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(yml), &doc))
	node := doc.Channels["wa"]
	c := &Channel{Name: "wa", Line: 2, Options: node}
	tests := []struct {
		key  string
		line int
	}{
		{"type", 3},
		{"template", 5},
		{"template.name", 6},
		{"template.body_params", 7},
		{"template.body_params[1]", 9},
		{"template.body_params[7]", 7}, // no such entry: the list's line
		{"template.missing", 5},
		{"content_variables.1", 11},
		{"alias.a", 12}, // through the alias to where a is written
		{"absent", 2},
		{"type.deeper", 3}, // a scalar has no keys
	}
	for _, tt := range tests {
		require.Equal(t, tt.line, c.OptionLine(tt.key), tt.key)
	}
}
