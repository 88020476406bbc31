package config

import (
	"fmt"
	"math"
	"strings"
)

// Limits are a policy's abuse limits.
type Limits struct {
	// PerRecipient caps the messages accepted for one recipient under
	// this policy in a sliding window: "5/h" refuses a sixth message to a
	// recipient within an hour of the first of five (429
	// recipient_rate_limited). A phone number counts once whether it is
	// given as phone or whatsapp; an email address (case-insensitive) and a
	// telegram chat are recipients of their own, and a message counts for
	// each of its addresses. The count is kept in the store, so it holds
	// across restarts and across instances sharing PostgreSQL. Zero: no
	// limit.
	PerRecipient Rate `yaml:"per_recipient"`
}

// Countries restricts where a policy sends phone and whatsapp numbers, by
// the number's country (ISO 3166 alpha-2, as libphonenumber places it; a
// number it cannot place counts as the main country of its calling code,
// +1 as US). Allow lists the only countries sent to; Deny the countries
// never sent to. One of them, not both; neither: every country.
type Countries struct {
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
}

// checkAbuse validates a policy's limits and countries (p is its key path).
func (v *checker) checkAbuse(p string, pol *Policy) {
	if r := pol.Limits.PerRecipient; r.N > 0 && r.N != math.Trunc(r.N) {
		v.errorf(p+".limits.per_recipient", "%g is not a whole number of messages (want a limit like 5/h)", r.N)
	}
	c := pol.Countries
	if len(c.Allow) > 0 && len(c.Deny) > 0 {
		v.errorf(p+".countries", "give allow or deny, not both: allow sends only to the countries it lists, deny to every country but those")
	}
	for _, l := range []struct {
		key   string
		codes []string
	}{{"allow", c.Allow}, {"deny", c.Deny}} {
		seen := map[string]int{}
		for i, code := range l.codes {
			k := fmt.Sprintf("%s.countries.%s[%d]", p, l.key, i)
			if j, dup := seen[code]; dup {
				v.errorf(k, "%q is already listed at %s[%d]", code, l.key, j)
				continue
			}
			seen[code] = i
			if !CountryCode(code) {
				v.errorf(k, "%s", countryHint(code))
			}
		}
	}
}

func countryHint(code string) string {
	msg := fmt.Sprintf("%q is not an ISO 3166 alpha-2 country code", code)
	switch up := strings.ToUpper(strings.TrimSpace(code)); {
	case up == "UK":
		msg += `; the United Kingdom is "GB"`
	case up != code && CountryCode(up):
		msg += fmt.Sprintf("; write it in capitals: %q", up)
	default:
		msg += ` (two capital letters, like "US", "GB" or "DE")`
	}
	return msg
}

// CountryCode reports whether code is an ISO 3166-1 alpha-2 code, or one
// of the codes libphonenumber places numbers in that ISO reserves for
// other uses: AC (Ascension Island), TA (Tristan da Cunha) and XK (Kosovo).
func CountryCode(code string) bool {
	return countrySet[code]
}

var countrySet = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(countryCodes) {
		m[c] = true
	}
	return m
}()

// countryCodes are the ISO 3166-1 alpha-2 codes officially assigned, then
// AC, TA and XK (see CountryCode); admission's tests check that every
// region libphonenumber can place a number in is here.
const countryCodes = ` AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
 BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
 CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
 DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
 GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
 HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP
 KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY
 MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
 NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
 QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
 TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ
 VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
 AC TA XK `
