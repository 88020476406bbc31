package api_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func withCallback(url string) string {
	return strings.TrimSuffix(otp, "}") + `,"callback_url":"` + url + `"}`
}

// TestCallbackURLAddressPolicy: a callback_url whose host is a literal
// address the callback policy refuses is a 422 naming callback_url at
// submit, single or batch; one the config allows is accepted. Host names
// are not looked up at submit (the sender checks them as it connects).
func TestCallbackURLAddressPolicy(t *testing.T) {
	t.Parallel()
	// A short callback timeout: accepted messages get callbacks, which try
	// these addresses in the background until the gateway stops.
	const short = "\ncallbacks: {timeout: 1s}\n"
	configs := map[string]string{
		"default":                testConfig + short,
		"allow_private_networks": testConfig + "\ncallbacks: {timeout: 1s, allow_private_networks: true}\n",
		"allow_hosts":            testConfig + "\ncallbacks: {timeout: 1s, allow_hosts: [169.254.169.254, \"::1\", 10.1.2.0/24]}\n",
	}
	tests := []struct {
		config  string
		url     string
		refused string // "": 202; else the start of the 422's message
	}{
		{"default", "http://169.254.169.254/x",
			"callback_url host 169.254.169.254 is a link-local address; list it in callbacks.allow_hosts in the gateway's config to allow it (callbacks.allow_private_networks does not)"},
		{"default", "http://[::1]/x",
			"callback_url host ::1 is a loopback address; set callbacks.allow_private_networks or callbacks.allow_hosts in the gateway's config to allow it"},
		{"default", "http://127.0.0.1:8080/x", "callback_url host 127.0.0.1 is a loopback address"},
		{"default", "https://10.0.0.5/x", "callback_url host 10.0.0.5 is a private address"},
		{"default", "http://[::ffff:192.168.0.1]/x", "callback_url host ::ffff:192.168.0.1 is a private address"},
		{"default", "http://[fe80::1%25eth0]/x", "callback_url host fe80::1%eth0 is a link-local address"},
		{"default", "http://0.0.0.0/x", "callback_url host 0.0.0.0 is an unspecified address"},
		{"default", "https://app.example.com/hooks", ""},
		{"default", "http://localhost/x", ""},     // a name: checked when the sender connects
		{"default", "https://203.0.113.10/x", ""}, // TEST-NET-3: public as far as the policy knows

		{"allow_private_networks", "http://[::1]/x", ""},
		{"allow_private_networks", "http://10.0.0.5/x", ""},
		{"allow_private_networks", "http://169.254.169.254/x", "callback_url host 169.254.169.254 is a link-local address"},

		{"allow_hosts", "http://169.254.169.254/x", ""},
		{"allow_hosts", "http://[::1]/x", ""},
		{"allow_hosts", "http://10.1.2.3/x", ""},
		{"allow_hosts", "http://10.1.3.3/x", "callback_url host 10.1.3.3 is a private address"},
		{"allow_hosts", "http://127.0.0.1/x", "callback_url host 127.0.0.1 is a loopback address"},
	}
	bundles := map[string]*testBundle{}
	for name, yml := range configs {
		bundles[name] = setupYAML(t, yml)
	}
	for _, tt := range tests {
		t.Run(tt.config+" "+tt.url, func(t *testing.T) {
			t.Parallel()
			tb := bundles[tt.config]
			r := tb.do(t, "POST", "/v1/messages", sendKey, withCallback(tt.url))
			if tt.refused == "" {
				require.Equal(t, 202, r.status, r.raw)
			} else {
				require.Equal(t, 422, r.status, r.raw)
				code, field := errField(r)
				require.Equal(t, "invalid_field", code)
				require.Equal(t, "callback_url", field)
				msg := r.body["error"].(map[string]any)["message"].(string)
				require.True(t, strings.HasPrefix(msg, tt.refused), "message %q\nwant it to start %q", msg, tt.refused)
			}

			// A batch item is held to the same rule, on its own.
			r = tb.do(t, "POST", "/v1/messages/batch", sendKey, batchBody(withCallback(tt.url), otp))
			require.Equal(t, 200, r.status, r.raw)
			res := results(t, r)
			require.Equal(t, "queued", res[1]["status"], "the other item is accepted")
			if tt.refused == "" {
				require.Equal(t, "queued", res[0]["status"], r.raw)
				return
			}
			code, field := itemErr(res[0])
			require.Equal(t, "invalid_field", code, r.raw)
			require.Equal(t, "callback_url", field)
		})
	}
}
