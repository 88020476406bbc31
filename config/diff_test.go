package config

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// diffBase is the config every diff case edits. Its secrets come from the
// environment (see diffEnv), as in production.
const diffBase = `
server: {listen: ":8080"}
store: {driver: sqlite, dsn: data/sb.db}
auth:
  keys:
    - {name: shop, key: "${SHOP_KEY}", role: send}
    - {name: ops, key: "${OPS_KEY}", role: admin}
channels:
  whatsapp:
    type: twilio-whatsapp
    account_sid: AC123
    auth_token: "${TWILIO_TOKEN}"
    from: "whatsapp:+14155238886"
    retry: {attempts: 3}
  sms: {type: sim, kind: sms, latency: 20ms}
policies:
  - name: otp
    match: {tags: [otp]}
    route: [whatsapp, sms]
  - name: default
    route: [sms]
`

const (
	oldToken = "tok-OLD-s3cr3t-value"
	newToken = "tok-NEW-s3cr3t-value"
	oldOps   = "ops-key-OLD-0123456789"
	newOps   = "ops-key-NEW-0123456789"
	shopKey  = "shop-key-0123456789ab"
)

func diffEnv(token, ops string) func(string) (string, bool) {
	return env("TWILIO_TOKEN="+token, "OPS_KEY="+ops, "SHOP_KEY="+shopKey)
}

func parseDiff(t *testing.T, yml string, lookup func(string) (string, bool)) *Config {
	t.Helper()
	c, err := ParseWithEnv("test.yaml", []byte(yml), lookup)
	require.NoError(t, err)
	return c
}

func TestCompare(t *testing.T) {
	t.Parallel()
	type edit struct{ from, to string }
	tests := []struct {
		name    string
		edits   []edit
		token   string // TWILIO_TOKEN in the new config; default oldToken
		ops     string // OPS_KEY in the new config; default oldOps
		want    string // Diff.String()
		restart int
	}{
		{name: "identical", want: "no changes"},
		{
			name: "moved lines and restyled values are not changes",
			edits: []edit{
				{"  sms: {type: sim, kind: sms, latency: 20ms}\n", ""},
				{"channels:\n", "channels:\n  sms:\n    kind: sms\n    latency: \"20ms\"\n    type: sim\n\n"},
				{"retry: {attempts: 3}", "retry: {attempts: 3, backoff: 500ms}"}, // the default, written out
			},
			want: "no changes",
		},
		{
			name:  "channel added and removed",
			edits: []edit{{"  sms: {type: sim, kind: sms, latency: 20ms}\n", "  email: {type: sim, kind: email}\n"}, {"[whatsapp, sms]", "[whatsapp, email]"}, {"route: [sms]", "route: [email]"}},
			want: "+ channel email\n- channel sms\n" +
				"~ policy otp: route: [whatsapp, sms] → [whatsapp, email]\n" +
				"~ policy default: route: [sms] → [email]",
		},
		{
			name:  "common keys show values, options only their names",
			edits: []edit{{"retry: {attempts: 3}", "retry: {attempts: 2}\n    rate: 30/s\n    send_timeout: 5s"}, {"account_sid: AC123", "account_sid: AC999"}, {"latency: 20ms", "mode: down"}},
			token: newToken,
			want: "~ channel whatsapp: send_timeout: 10s → 5s, rate: none → 30/s, retry.attempts: 3 → 2, account_sid changed, auth_token changed\n" +
				"~ channel sms: mode added, latency removed",
		},
		{
			name:  "policy keys",
			edits: []edit{{"match: {tags: [otp]}", "match: {tags: [otp, login]}\n    ttl: 10m\n    failover_on: [error]"}},
			want:  "~ policy otp: match.tags: [otp] → [otp, login], failover_on: [error, breaker_open, unhealthy, no_receipt, undelivered, silent] → [error], ttl: 24h0m0s → 10m0s",
		},
		{
			name:  "policy order and policies added",
			edits: []edit{{"  - name: default\n    route: [sms]\n", ""}, {"policies:\n", "policies:\n  - name: default\n    route: [sms]\n  - name: bulk\n    route: [sms]\n"}},
			want:  "+ policy bulk\n~ policies (order): [otp, default] → [default, otp]",
		},
		{
			name:  "API keys: names and roles, never values",
			edits: []edit{{"{name: shop, key: \"${SHOP_KEY}\", role: send}", "{name: shop, key: \"${SHOP_KEY}\", role: read}\n    - {name: ci, key: ci-key-0123456789abcdef, role: send}"}},
			ops:   newOps,
			want:  "+ API key ci\n~ API key shop: role: send → read\n~ API key ops: key changed",
		},
		{
			name:  "API key rate limits show their values",
			edits: []edit{{"{name: shop, key: \"${SHOP_KEY}\", role: send}", "{name: shop, key: \"${SHOP_KEY}\", role: send, rate: 50/s}"}, {"{name: ops, key: \"${OPS_KEY}\", role: admin}", "{name: ops, key: \"${OPS_KEY}\", role: admin, rate: 1/m, burst: 5}"}},
			want:  "~ API key shop: rate: unlimited → 50/s burst 50\n~ API key ops: rate: unlimited → 1/m burst 5",
		},
		{
			name:  "a callback secret set or rotated is a change, never shown",
			edits: []edit{{"{name: shop, key: \"${SHOP_KEY}\", role: send}", "{name: shop, key: \"${SHOP_KEY}\", role: send, callback_secret: cb-OLD-s3cr3t}"}},
			want:  "~ API key shop: callback_secret changed",
		},
		{
			name:  "callback_secrets for a rotation",
			edits: []edit{{"{name: ops, key: \"${OPS_KEY}\", role: admin}", "{name: ops, key: \"${OPS_KEY}\", role: admin, callback_secrets: [cb-NEW-s3cr3t, cb-OLD-s3cr3t]}"}},
			want:  "~ API key ops: callback_secrets changed",
		},
		{
			name:    "settings that need a restart",
			edits:   []edit{{`listen: ":8080"`, `listen: ":9090", shutdown_timeout: 5s`}, {"dsn: data/sb.db", "dsn: postgres://u:hunter2@db/sb"}},
			want:    "~ server.listen: :8080 → :9090 (needs a restart)\n~ server.shutdown_timeout: 15s → 5s\n~ store.dsn changed (needs a restart)",
			restart: 2,
		},
		{
			name:    "the callback address policy applies on reload; the sender's timings need a restart",
			edits:   []edit{{`listen: ":8080"}`, `listen: ":8080"}` + "\ncallbacks: {allow_private_networks: true, allow_hosts: [10.1.2.0/24, hooks.internal], timeout: 5s}"}},
			want:    "~ callbacks.timeout: 10s → 5s (needs a restart)\n~ callbacks.allow_private_networks: false → true\n~ callbacks.allow_hosts: [] → [10.1.2.0/24, hooks.internal]",
			restart: 1,
		},
		{
			name:  "store retention applies on reload",
			edits: []edit{{"dsn: data/sb.db", "dsn: data/sb.db, retention: 720h"}},
			want:  "~ store.retention: 0s → 720h0m0s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			newYAML := diffBase
			for _, e := range tt.edits {
				require.Contains(t, newYAML, e.from)
				newYAML = strings.Replace(newYAML, e.from, e.to, 1)
			}
			token, ops := tt.token, tt.ops
			if token == "" {
				token = oldToken
			}
			if ops == "" {
				ops = oldOps
			}
			oldCfg := parseDiff(t, diffBase, diffEnv(oldToken, oldOps))
			newCfg := parseDiff(t, newYAML, diffEnv(token, ops))
			d := Compare(oldCfg, newCfg)
			require.Equal(t, tt.want, d.String())
			require.Equal(t, tt.want == "no changes", d.Empty())
			require.Len(t, d.NeedsRestart(), tt.restart)

			// No secret ever shows, in the summary or in the JSON the
			// reload endpoint answers with.
			js, err := json.Marshal(d)
			require.NoError(t, err)
			for _, secret := range []string{oldToken, newToken, oldOps, newOps, shopKey, "hunter2", "cb-OLD-s3cr3t", "cb-NEW-s3cr3t"} {
				require.NotContains(t, d.String(), secret)
				require.NotContains(t, string(js), secret)
			}
		})
	}
}

func TestChannelChangesFollowsAliases(t *testing.T) {
	t.Parallel()
	withAnchor := strings.Replace(diffBase, "  sms: {type: sim, kind: sms, latency: 20ms}",
		"  sms: {type: sim, kind: sms, latency: &lat 20ms}\n  email: {type: sim, kind: email, latency: *lat}", 1)
	plain := strings.Replace(diffBase, "  sms: {type: sim, kind: sms, latency: 20ms}",
		"  sms: {type: sim, kind: sms, latency: 20ms}\n  email: {type: sim, kind: email, latency: 20ms}", 1)
	a := parseDiff(t, withAnchor, diffEnv(oldToken, oldOps))
	b := parseDiff(t, plain, diffEnv(oldToken, oldOps))
	require.True(t, Compare(a, b).Empty(), Compare(a, b).String())
}
