package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMatchCountriesValidation(t *testing.T) {
	t.Parallel()
	policy := func(match string) string {
		return strings.Replace(okRest, "route: [whatsapp, sms]}", "route: [whatsapp, sms], match: "+match+"}", 1)
	}
	tests := []struct {
		name  string
		match string
		want  []string // nil: valid
	}{
		{"countries and tags", `{countries: [IN, BR], tags: [otp]}`, nil},
		{"countries alone", `{countries: [XK, AC]}`, nil},
		{"empty list", `{countries: []}`,
			[]string{`t.yaml:8: policies[0].match.countries: empty: list at least one country code, or leave it out to match every country`}},
		{"bad codes", `{countries: [UK, in, IND, BR, BR]}`, []string{
			`t.yaml:8: policies[0].match.countries[0]: "UK" is not an ISO 3166 alpha-2 country code; the United Kingdom is "GB"`,
			`t.yaml:8: policies[0].match.countries[1]: "in" is not an ISO 3166 alpha-2 country code; write it in capitals: "IN"`,
			`t.yaml:8: policies[0].match.countries[2]: "IND" is not an ISO 3166 alpha-2 country code (two capital letters, like "US", "GB" or "DE")`,
			`t.yaml:8: policies[0].match.countries[4]: "BR" is already listed at countries[3]`,
		}},
		{"not a list", `{countries: IN}`,
			[]string{`t.yaml:8: policies[0].match.countries: expected a list, got a string`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseWithEnv("t.yaml", []byte(policy(tc.match)), env())
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Nil(t, c)
			require.Equal(t, tc.want, errLines(t, err))
		})
	}
}

func TestMatchFits(t *testing.T) {
	t.Parallel()
	in := func(country string, tags ...string) *MatchInput {
		m := &MatchInput{Tags: tags}
		if country != "" {
			m.Country = func() (string, string) { return country, "phone" }
		}
		return m
	}
	tests := []struct {
		name  string
		match Match
		in    *MatchInput
		fits  bool
		why   string
	}{
		{"both keys fit", Match{Countries: []string{"IN", "BR"}, Tags: []string{"otp"}}, in("BR", "otp"),
			true, `tag "otp" is in match.tags and country BR (from phone) is in match.countries`},
		{"country outside", Match{Countries: []string{"IN", "BR"}, Tags: []string{"otp"}}, in("US", "otp"),
			false, `country US (from phone) is not in match.countries [IN, BR]`},
		{"tag missing, country fits", Match{Countries: []string{"IN"}, Tags: []string{"otp"}}, in("IN", "promo"),
			false, `no tag of the message is in match.tags [otp]`},
		{"countries only: any tags", Match{Countries: []string{"IN"}}, in("IN"),
			true, `country IN (from phone) is in match.countries`},
		{"tags only: any country", Match{Tags: []string{"otp", "2fa"}}, in("", "2fa"),
			true, `tag "2fa" is in match.tags`},
		{"no number", Match{Countries: []string{"IN"}}, in(""),
			false, `the message has no phone or whatsapp number to read a country from, and match.countries needs one`},
		{"empty match", Match{}, in("IN", "otp"),
			false, `its match is empty: used only when a request names it`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fits, why := tc.match.Fits(tc.in)
			require.Equal(t, tc.fits, fits)
			require.Equal(t, tc.why, why)
		})
	}
}

func TestMatchPolicyFirstFitWinsAndPlacesOnce(t *testing.T) {
	t.Parallel()
	pols := []*Policy{
		{Name: "otp-in", Match: Match{Countries: []string{"IN"}, Tags: []string{"otp"}}},
		{Name: "latam", Match: Match{Countries: []string{"BR", "MX"}}},
		{Name: "otp", Match: Match{Tags: []string{"otp"}}},
		{Name: "default"},
	}
	placed := 0
	in := func(country string, tags ...string) *MatchInput {
		return &MatchInput{Tags: tags, Country: func() (string, string) { placed++; return country, "whatsapp" }}
	}
	for _, tc := range []struct {
		country string
		tags    []string
		want    string // "" : none fits
	}{
		{"IN", []string{"otp"}, "otp-in"},
		{"BR", []string{"otp"}, "latam"},
		{"US", []string{"otp"}, "otp"},
		{"IN", nil, ""},
	} {
		placed = 0
		got := MatchPolicy(pols, in(tc.country, tc.tags...))
		if tc.want == "" {
			require.Nil(t, got, tc.country)
		} else {
			require.Equal(t, tc.want, got.Name, tc.country)
		}
		require.Equal(t, 1, placed, "the number is placed once per message")
	}

	// Tags alone decide: the number is never placed.
	placed = 0
	require.Equal(t, "otp", MatchPolicy(pols[2:], in("US", "otp")).Name)
	require.Zero(t, placed)

	out, chosen := ExplainMatch(pols, "", in("US"))
	require.Equal(t, "default", chosen)
	require.Equal(t, []PolicyMatch{
		{Policy: "otp-in", Reason: `no tag of the message is in match.tags [otp]`},
		{Policy: "latam", Reason: `country US (from whatsapp) is not in match.countries [BR, MX]`},
		{Policy: "otp", Reason: `no tag of the message is in match.tags [otp]`},
		{Policy: "default", Matched: true, Reason: `its match is empty: used only when a request names it; used as the fallback: no policy's match fits and it is called "default"`},
	}, out)

	out, chosen = ExplainMatch(pols, "otp", in("IN", "otp"))
	require.Equal(t, "otp", chosen)
	require.Equal(t, PolicyMatch{Policy: "otp-in", Reason: `not considered: the request names policy "otp"`}, out[0])
	require.Equal(t, PolicyMatch{Policy: "otp", Matched: true, Reason: "the request names it"}, out[2])

	out, _ = ExplainMatch(pols, "", in("BR", "otp"))
	require.Equal(t, PolicyMatch{Policy: "otp", Reason: `not considered: policy "latam" matched first`}, out[2])
}
