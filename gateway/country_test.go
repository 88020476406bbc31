package gateway_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
)

// countryConfig: OTPs to India and Brazil go by SMS first, other OTPs by
// WhatsApp first, and any message to Brazil without the otp tag by email.
const countryConfig = `
store: {driver: sqlite, dsn: "%DSN%"}
dispatch: {poll: 20ms}
auth:
  keys:
    - {name: shop, key: ` + sendKey + `, role: send}
channels:
  whatsapp: {type: sim, kind: whatsapp, latency: 0s, probe: {interval: 1h}}
  sms:      {type: sim, kind: sms, latency: 0s, probe: {interval: 1h}}
  email:    {type: sim, kind: email, latency: 0s, probe: {interval: 1h}}
policies:
  - name: otp-in-br
    match: {countries: [IN, BR], tags: [otp]}
    route: [sms, whatsapp]
  - name: otp
    match: {tags: [otp]}
    route: [whatsapp, sms]
  - name: br
    match: {countries: [BR]}
    route: [email, sms]
  - name: default
    route: [sms]
`

// TestPolicyMatchesCountry: through a running gateway, a send's policy is
// the first whose match fits on both tags and the destination country
// (read from phone, else whatsapp), and explain says which country it read
// and why each policy did or did not match.
func TestPolicyMatchesCountry(t *testing.T) {
	t.Parallel()
	dsn := filepath.Join(t.TempDir(), "sb.db")
	cfg, err := config.Parse("t.yaml", []byte(strings.ReplaceAll(countryConfig, "%DSN%", dsn)))
	require.NoError(t, err)
	base, stop := run(t, cfg)
	defer stop()

	const (
		in = "+919876543210"
		br = "+5511987654321"
		us = "+15551234567"
	)
	tests := []struct {
		name, to, tags, want string
	}{
		{"otp to India", `{"phone":"` + in + `"}`, `["otp"]`, "otp-in-br"},
		{"otp to Brazil by whatsapp only", `{"whatsapp":"` + br + `"}`, `["otp"]`, "otp-in-br"},
		{"phone wins over whatsapp", `{"phone":"` + us + `","whatsapp":"` + in + `"}`, `["otp"]`, "otp"},
		{"otp to the US", `{"phone":"` + us + `"}`, `["otp"]`, "otp"},
		{"untagged to Brazil", `{"phone":"` + br + `","email":"ana@example.com"}`, `[]`, "br"},
		{"no number: countries never fit", `{"email":"ana@example.com"}`, `["x"]`, "default"},
		{"untagged to India", `{"phone":"` + in + `"}`, `[]`, "default"},
	}
	for _, tc := range tests {
		body := `{"to":` + tc.to + `,"body":"Your code is 123456","tags":` + tc.tags + `}`
		r := post(t, base, "/v1/messages", body)
		if tc.name == "no number: countries never fit" {
			// default's route is sms only: no address, so 422 no_route
			// names the policy that was chosen.
			require.Equal(t, http.StatusUnprocessableEntity, r.status, "%v", r.body)
			require.Equal(t, "no_route", r.code)
			require.Contains(t, r.body["error"].(map[string]any)["message"], `policy "default"`)
			continue
		}
		require.Equal(t, http.StatusAccepted, r.status, "%s: %v", tc.name, r.body)
		require.Equal(t, tc.want, r.body["policy"], tc.name)

		x := post(t, base, "/v1/routes/explain", body)
		require.Equal(t, http.StatusOK, x.status, "%s: %v", tc.name, x.body)
		require.Equal(t, tc.want, x.body["policy"], tc.name)
		var matched []string
		for _, p := range x.body["policies"].([]any) {
			if p := p.(map[string]any); p["matched"] == true {
				matched = append(matched, p["policy"].(string))
			}
		}
		require.Equal(t, []string{tc.want}, matched, "%s: exactly the chosen policy is matched", tc.name)
	}

	// What explain says, policy by policy, for an OTP to Brazil's whatsapp
	// and a US phone: the country comes from the phone.
	x := post(t, base, "/v1/routes/explain", `{"to":{"phone":"`+us+`","whatsapp":"`+br+`"},"body":"hi","tags":["otp"]}`)
	require.Equal(t, http.StatusOK, x.status, "%v", x.body)
	require.Equal(t, "US", x.body["country"])
	require.Equal(t, "phone", x.body["country_from"])
	require.Equal(t, []any{
		map[string]any{"policy": "otp-in-br", "matched": false, "reason": "country US (from phone) is not in match.countries [IN, BR]"},
		map[string]any{"policy": "otp", "matched": true, "reason": `tag "otp" is in match.tags`},
		map[string]any{"policy": "br", "matched": false, "reason": `not considered: policy "otp" matched first`},
		map[string]any{"policy": "default", "matched": false, "reason": `not considered: policy "otp" matched first`},
	}, x.body["policies"])

	x = post(t, base, "/v1/routes/explain", `{"to":{"whatsapp":"`+br+`"},"body":"hi"}`)
	require.Equal(t, http.StatusOK, x.status, "%v", x.body)
	require.Equal(t, "BR", x.body["country"])
	require.Equal(t, "whatsapp", x.body["country_from"])
	require.Equal(t, "br", x.body["policy"])
	require.Equal(t, []any{
		map[string]any{"policy": "otp-in-br", "matched": false, "reason": "no tag of the message is in match.tags [otp]"},
		map[string]any{"policy": "otp", "matched": false, "reason": "no tag of the message is in match.tags [otp]"},
		map[string]any{"policy": "br", "matched": true, "reason": "country BR (from whatsapp) is in match.countries"},
		map[string]any{"policy": "default", "matched": false, "reason": `not considered: policy "br" matched first`},
	}, x.body["policies"])

	// A request that names its policy: the others are not considered.
	x = post(t, base, "/v1/routes/explain", `{"to":{"phone":"`+in+`"},"body":"hi","policy":"default"}`)
	require.Equal(t, http.StatusOK, x.status, "%v", x.body)
	require.Equal(t, "IN", x.body["country"])
	require.Equal(t, map[string]any{"policy": "otp-in-br", "matched": false, "reason": `not considered: the request names policy "default"`},
		x.body["policies"].([]any)[0])
	require.Equal(t, map[string]any{"policy": "default", "matched": true, "reason": "the request names it"},
		x.body["policies"].([]any)[3])
}
