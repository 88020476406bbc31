package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const secBase = `
auth:
  keys:
    - {name: shop, key: "${SB_SEND_KEY:-dev-send-key-0123456789}", role: send}
    - {name: ops, key: "%ADMIN%", role: admin}
channels:
  sms: {type: sim, kind: sms}
policies:
  - {name: default, route: [sms]}
`

func secConfig(t *testing.T, server, admin string, kv ...string) (*Config, error) {
	t.Helper()
	y := strings.Replace(secBase, "%ADMIN%", admin, 1)
	if server != "" {
		y = "server:\n" + server + y
	}
	return ParseWithEnv("t.yaml", []byte(y), env(kv...))
}

func TestCheckPublishedKeys(t *testing.T) {
	t.Parallel()
	real := "SB_SEND_KEY=" + strings.Repeat("a", 32)
	tests := []struct {
		name   string
		server string
		admin  string
		env    []string
		want   []string // substrings of the one error, or nil for none
	}{
		{"loopback v4", `  listen: "127.0.0.1:8080"`, "dev-admin-key-0123456789", nil, nil},
		{"loopback v6", `  listen: "[::1]:8080"`, "dev-admin-key-0123456789", nil, nil},
		{"localhost", `  listen: "localhost:8080"`, "dev-admin-key-0123456789", nil, nil},
		{"no published key", `  listen: ":8080"`, "a-real-admin-key-0123456789", []string{real}, nil},
		{
			"literal key on every interface", `  listen: ":8080"`, "dev-admin-key-0123456789", []string{real},
			[]string{`t.yaml:6: auth.keys[1].key: API key "ops" is a published development key`, `the gateway listens on ":8080"`, "Set it to a random value (openssl rand -hex 32)", "--dev"},
		},
		{
			"env default on 0.0.0.0", `  listen: "0.0.0.0:8080"`, "a-real-admin-key-0123456789", nil,
			[]string{`auth.keys[0].key: API key "shop"`, "The ${SB_SEND_KEY:-...} default supplied it because SB_SEND_KEY is unset or empty: set SB_SEND_KEY to a random value (openssl rand -hex 32)"},
		},
		{
			// Set explicitly, not a default: still the published value.
			"env set to a dev key on ::", `  listen: "[::]:8080"`, "${ADMIN}", []string{real, "ADMIN=dev-admin-key-0123456789"},
			[]string{`API key "ops" is a published development key`},
		},
		{
			"default listen", "", "a-real-admin-key-0123456789", nil,
			[]string{`API key "shop"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := secConfig(t, tt.server, tt.admin, tt.env...)
			require.NoError(t, err)
			err = c.CheckPublishedKeys()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			lines := errLines(t, err)
			require.Len(t, lines, 1, err.Error())
			for _, w := range tt.want {
				require.Contains(t, lines[0], w)
			}
			require.NotContains(t, lines[0], "0123456789", "the key's value is not repeated")
		})
	}
}

func TestKeyEnvDefaults(t *testing.T) {
	t.Parallel()
	c, err := secConfig(t, "", "${SB_ADMIN_KEY:-dev-admin-key-0123456789}", "SB_SEND_KEY=")
	require.NoError(t, err)
	require.Equal(t, []KeyEnvDefault{{Index: 0, Name: "shop", Var: "SB_SEND_KEY"}, {Index: 1, Name: "ops", Var: "SB_ADMIN_KEY"}}, c.KeyEnvDefaults(),
		"an empty variable falls back too")

	c, err = secConfig(t, "", "${SB_ADMIN_KEY:-dev-admin-key-0123456789}", "SB_SEND_KEY=x-real-send-key-0123456789", "SB_ADMIN_KEY=x-real-admin-key-0123456789")
	require.NoError(t, err)
	require.Empty(t, c.KeyEnvDefaults())
}

func TestIsLoopbackListen(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:80": true, "127.1.2.3:80": true, "[::1]:80": true, "LOCALHOST:80": true,
		":80": false, "0.0.0.0:80": false, "[::]:80": false, "10.0.0.1:80": false, "sb.example.com:80": false, "garbage": false,
	} {
		require.Equal(t, want, IsLoopbackListen(addr), addr)
	}
}

func TestTLSAndMetricsListenValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		server string
		want   []string
	}{
		{"files", "  tls: {cert_file: c.pem, key_file: k.pem}", nil},
		{"acme", "  tls: {acme: {domains: [sb.example.com, b.example.com], email: ops@example.com, directory_url: \"https://ca.example/dir\"}}", nil},
		{"metrics_listen", "  metrics_listen: 127.0.0.1:9090", nil},
		{"cert without key", "  tls: {cert_file: c.pem}", []string{"t.yaml:2: server.tls.key_file: missing"}},
		{"key without cert", "  tls: {key_file: k.pem}", []string{"server.tls.cert_file: missing"}},
		{"acme and files", "  tls: {cert_file: c.pem, key_file: k.pem, acme: {domains: [a.example.com]}}", []string{"server.tls.acme: cannot be used with server.tls.cert_file"}},
		{"acme without domains", "  tls: {acme: {email: ops@example.com}}", []string{"server.tls.acme.domains: missing"}},
		{"acme bad domains", "  tls: {acme: {domains: [\"10.0.0.1\", \"*.example.com\", \"bad_name\", a.example.com, A.example.com]}}", []string{
			"server.tls.acme.domains[0]: \"10.0.0.1\" is an IP address",
			"server.tls.acme.domains[1]: \"*.example.com\" is a wildcard",
			"server.tls.acme.domains[2]: \"bad_name\" is not a domain name",
			"server.tls.acme.domains[4]: \"A.example.com\" is listed twice",
		}},
		{"acme http directory", "  tls: {acme: {domains: [a.example.com], directory_url: \"http://ca.example/dir\"}}", []string{"server.tls.acme.directory_url: \"http://ca.example/dir\" is not an https URL"}},
		{"acme email", "  tls: {acme: {domains: [a.example.com], email: ops}}", []string{"server.tls.acme.email: not an email address"}},
		{"metrics_listen bad", "  metrics_listen: 9090", []string{`server.metrics_listen: "9090" is not an address`}},
		{"metrics_listen same", "  listen: 127.0.0.1:8080\n  metrics_listen: 127.0.0.1:8080", []string{"server.metrics_listen: same address as server.listen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := secConfig(t, tt.server, "a-real-admin-key-0123456789")
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			got := strings.Join(errLines(t, err), "\n")
			for _, w := range tt.want {
				require.Contains(t, got, w)
			}
			require.Len(t, errLines(t, err), len(tt.want), got)
		})
	}
}

// Certificate files are re-read on reload; TLS on or off, ACME and the
// metrics listener need a restart.
func TestDiffTLSSettings(t *testing.T) {
	t.Parallel()
	load := func(server string) *Config {
		c, err := secConfig(t, server, "a-real-admin-key-0123456789")
		require.NoError(t, err)
		return c
	}
	files := load("  tls: {cert_file: a.pem, key_file: a.key}")
	tests := []struct {
		name        string
		old, new    *Config
		restartKeys []string
	}{
		{"new files", files, load("  tls: {cert_file: b.pem, key_file: b.key}"), nil},
		{"tls on", load(""), files, []string{"server.tls.cert_file", "server.tls.key_file"}},
		{"tls off", files, load(""), []string{"server.tls.cert_file", "server.tls.key_file"}},
		{"acme domains", load("  tls: {acme: {domains: [a.example.com]}}"), load("  tls: {acme: {domains: [b.example.com]}}"), []string{"server.tls.acme.domains"}},
		{"metrics_listen", load(""), load("  metrics_listen: 127.0.0.1:9090"), []string{"server.metrics_listen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Compare(tt.old, tt.new)
			require.False(t, d.Empty())
			var keys []string
			for _, c := range d.NeedsRestart() {
				keys = append(keys, c.Key)
			}
			require.Equal(t, tt.restartKeys, keys, d.String())
		})
	}
}
