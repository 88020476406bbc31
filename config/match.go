package config

import (
	"fmt"
	"slices"
	"strings"
)

// MatchInput is what a policy's match is judged on: the message's tags and
// its destination country.
type MatchInput struct {
	Tags []string
	// Country places the destination: the country (ISO 3166 alpha-2) of
	// the phone number, else of the whatsapp number, and the field it was
	// read from ("phone", "whatsapp"); "" when the message has neither.
	// Placing a number can run libphonenumber's patterns, so it is called
	// only when a policy matches on countries, and at most once. Nil: no
	// phone number.
	Country func() (country, field string)
	// Regions, if set, lists the countries the destination's calling code
	// serves (cheap: no pattern is run). When none of them is in a match's
	// countries, or all are, the match is decided without placing the
	// number (MatchPolicy only: explain always says the country).
	Regions func() []string

	placed         bool
	country, field string
}

// Destination returns the destination country and the field it was read
// from (see Country), placing the number on the first call.
func (in *MatchInput) Destination() (country, field string) {
	if !in.placed {
		in.placed = true
		if in.Country != nil {
			in.country, in.field = in.Country()
		}
	}
	return in.country, in.field
}

// Fits reports whether the message fits m: every key m gives must fit
// (tags: a tag in common; countries: the destination country is listed),
// and a key m leaves out fits anything. A match with no keys fits nothing:
// such a policy is used when a request names it, or as "default". why
// says what decided, for explain.
func (m Match) Fits(in *MatchInput) (ok bool, why string) {
	if len(m.Tags) == 0 && len(m.Countries) == 0 {
		return false, "its match is empty: used only when a request names it"
	}
	var fits []string
	if len(m.Tags) > 0 {
		i := slices.IndexFunc(m.Tags, func(t string) bool { return slices.Contains(in.Tags, t) })
		if i < 0 {
			return false, fmt.Sprintf("no tag of the message is in match.tags [%s]", strings.Join(m.Tags, ", "))
		}
		fits = append(fits, fmt.Sprintf("tag %q is in match.tags", m.Tags[i]))
	}
	if len(m.Countries) > 0 {
		country, field := in.Destination()
		switch {
		case country == "":
			return false, "the message has no phone or whatsapp number to read a country from, and match.countries needs one"
		case !slices.Contains(m.Countries, country):
			return false, fmt.Sprintf("country %s (from %s) is not in match.countries [%s]", country, field, strings.Join(m.Countries, ", "))
		}
		fits = append(fits, fmt.Sprintf("country %s (from %s) is in match.countries", country, field))
	}
	return true, strings.Join(fits, " and ")
}

// MatchPolicy returns the first of policies whose match the message fits,
// or nil (the caller falls back to "default"). It decides as Fits does,
// placing the number only when the calling code's regions disagree about
// a match's countries (+1 against [IN, BR] needs no placing; against [US,
// CA] it does).
func MatchPolicy(policies []*Policy, in *MatchInput) *Policy {
	for _, p := range policies {
		if p != nil && p.Match.fits(in) {
			return p
		}
	}
	return nil
}

// fits is Fits without the reason.
func (m Match) fits(in *MatchInput) bool {
	if len(m.Tags) == 0 && len(m.Countries) == 0 {
		return false
	}
	if len(m.Tags) > 0 && !slices.ContainsFunc(m.Tags, func(t string) bool { return slices.Contains(in.Tags, t) }) {
		return false
	}
	if len(m.Countries) == 0 {
		return true
	}
	if in.Regions != nil && !in.placed {
		if rs := in.Regions(); len(rs) > 0 {
			n := 0
			for _, r := range rs {
				if slices.Contains(m.Countries, r) {
					n++
				}
			}
			switch n {
			case 0:
				return false
			case len(rs):
				return true
			}
		}
	}
	country, _ := in.Destination()
	return country != "" && slices.Contains(m.Countries, country)
}

// PolicyMatch is one policy's verdict on a message, for explain.
type PolicyMatch struct {
	Policy  string `json:"policy"`
	Matched bool   `json:"matched"`
	// Reason says why it matched or not, or that it was not considered
	// (an earlier policy matched, or the request named a policy).
	Reason string `json:"reason"`
}

// ExplainMatch judges every policy in order as MatchPolicy does, and says
// which one the message gets: named (the request names a policy; "" if
// not), else the first that fits, else "default". chosen is "" when none
// applies.
func ExplainMatch(policies []*Policy, named string, in *MatchInput) (out []PolicyMatch, chosen string) {
	for _, p := range policies {
		if p == nil {
			continue
		}
		pm := PolicyMatch{Policy: p.Name}
		switch {
		case named != "":
			pm.Matched = p.Name == named
			pm.Reason = fmt.Sprintf("not considered: the request names policy %q", named)
			if pm.Matched {
				pm.Reason = "the request names it"
				chosen = p.Name
			}
		case chosen != "":
			pm.Reason = fmt.Sprintf("not considered: policy %q matched first", chosen)
		default:
			pm.Matched, pm.Reason = p.Match.Fits(in)
			if pm.Matched {
				chosen = p.Name
			}
		}
		out = append(out, pm)
	}
	if named != "" || chosen != "" {
		return out, chosen
	}
	for i := range out {
		if out[i].Policy == "default" {
			out[i].Matched = true
			out[i].Reason += "; used as the fallback: no policy's match fits and it is called \"default\""
			chosen = "default"
		}
	}
	return out, chosen
}

// checkMatch validates a policy's match (p is its key path).
func (v *checker) checkMatch(p string, m Match) {
	if m.Countries != nil && len(m.Countries) == 0 {
		v.errorf(p+".match.countries", "empty: list at least one country code, or leave it out to match every country")
	}
	seen := map[string]int{}
	for i, code := range m.Countries {
		k := fmt.Sprintf("%s.match.countries[%d]", p, i)
		if j, dup := seen[code]; dup {
			v.errorf(k, "%q is already listed at countries[%d]", code, j)
			continue
		}
		seen[code] = i
		if !CountryCode(code) {
			v.errorf(k, "%s", countryHint(code))
		}
	}
}
