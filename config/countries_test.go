package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPolicyAbuseControls(t *testing.T) {
	t.Parallel()
	policy := func(extra string) string {
		return strings.Replace(okRest, "route: [whatsapp, sms]}", "route: [whatsapp, sms], "+extra+"}", 1)
	}
	tests := []struct {
		name  string
		extra string
		want  []string // nil: valid
	}{
		{"limit and allow list", `limits: {per_recipient: "5/h"}, countries: {allow: [US, GB, DE]}`, nil},
		{"deny list", `countries: {deny: [RU, XK]}`, nil},
		{"fractional limit", `limits: {per_recipient: "0.5/m"}`,
			[]string{`t.yaml:8: policies[0].limits.per_recipient: 0.5 is not a whole number of messages (want a limit like 5/h)`}},
		{"bad limit syntax", `limits: {per_recipient: "5 per hour"}`,
			[]string{`t.yaml:8: policies[0].limits.per_recipient: bad value "5 per hour": want a rate like 30/s, 1800/m or 10000/h`}},
		{"allow and deny", `countries: {allow: [US], deny: [GB]}`,
			[]string{`t.yaml:8: policies[0].countries: give allow or deny, not both: allow sends only to the countries it lists, deny to every country but those`}},
		{"bad codes", `countries: {allow: [UK, us, USA, US, US]}`, []string{
			`t.yaml:8: policies[0].countries.allow[0]: "UK" is not an ISO 3166 alpha-2 country code; the United Kingdom is "GB"`,
			`t.yaml:8: policies[0].countries.allow[1]: "us" is not an ISO 3166 alpha-2 country code; write it in capitals: "US"`,
			`t.yaml:8: policies[0].countries.allow[2]: "USA" is not an ISO 3166 alpha-2 country code (two capital letters, like "US", "GB" or "DE")`,
			`t.yaml:8: policies[0].countries.allow[4]: "US" is already listed at allow[3]`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseWithEnv("t.yaml", []byte(policy(tc.extra)), env())
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Nil(t, c)
			require.Equal(t, tc.want, errLines(t, err))
		})
	}
}

func TestCountryCode(t *testing.T) {
	t.Parallel()
	require.Len(t, countrySet, 249+3, "ISO 3166-1 assigns 249 codes; AC, TA and XK are libphonenumber's")
	for _, c := range []string{"US", "GB", "DE", "XK", "AC"} {
		require.True(t, CountryCode(c), c)
	}
	for _, c := range []string{"", "UK", "us", "EU", "ZZ", "001", " US"} {
		require.False(t, CountryCode(c), c)
	}
}
