package admission_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/admission"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/store"
)

// TestMatchInputAgreesWithPlacing: MatchPolicy decides from the calling
// code's regions when they settle it, and places the number otherwise; it
// always picks what placing every number (ExplainMatch) picks, and it
// places +1 numbers only for a list that names some +1 countries.
func TestMatchInputAgreesWithPlacing(t *testing.T) {
	t.Parallel()
	lists := [][]string{{"IN", "BR"}, {"US"}, {"CA", "JM"}, {"US", "CA"}, {"GB"}, {"GG", "JE"}, {"DE"}}
	numbers := []string{
		"+919876543210", "+5511987654321", "+15551234567", "+14165550123", "+18765550123",
		"+447700900123", "+447781123456", "+4915123456789", "+80012345678",
	}
	for _, countries := range lists {
		pols := []*config.Policy{{Name: "c", Match: config.Match{Countries: countries}}}
		for _, number := range numbers {
			for _, to := range []store.Recipient{{Phone: number}, {WhatsApp: number}} {
				p, err := admission.ParseRecipient(to)
				require.NoError(t, err, number)
				placed := 0
				in := p.MatchInput(nil)
				place := in.Country
				in.Country = func() (string, string) { placed++; return place() }
				fast := config.MatchPolicy(pols, in) != nil
				_, chosen := config.ExplainMatch(pols, "", p.MatchInput(nil))
				require.Equal(t, chosen == "c", fast, "%s against %v", number, countries)
				if number[:2] == "+1" && (countries[0] == "IN" || countries[0] == "GB" || countries[0] == "DE") {
					require.Zero(t, placed, "%s against %v: no +1 country is listed, no placing", number, countries)
				}
			}
		}
	}

	// Which country, for the record: the phone's, else the whatsapp's.
	p, err := admission.ParseRecipient(store.Recipient{Phone: "+15551234567", WhatsApp: "+919876543210"})
	require.NoError(t, err)
	c, f := p.Destination()
	require.Equal(t, []string{"US", "phone"}, []string{c, f})
	p, err = admission.ParseRecipient(store.Recipient{WhatsApp: "+5511987654321"})
	require.NoError(t, err)
	c, f = p.Destination()
	require.Equal(t, []string{"BR", "whatsapp"}, []string{c, f})
	p, err = admission.ParseRecipient(store.Recipient{Email: "ana@example.com"})
	require.NoError(t, err)
	require.Nil(t, p.MatchInput(nil).Country)
}

func TestCountryOf(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"+919876543210": "IN", "+5511987654321": "BR", "+15551234567": "US", "+447700900123": "GB", "+14165550123": "CA",
	} {
		got, ok := admission.CountryOf(addr)
		require.True(t, ok, addr)
		require.Equal(t, want, got, addr)
	}
	_, ok := admission.CountryOf("ana@example.com")
	require.False(t, ok)
}
