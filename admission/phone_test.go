package admission

import (
	"errors"
	"strconv"
	"testing"

	"github.com/nyaruka/phonenumbers"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/store"
)

func TestParsePhone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		number  string
		country string // "" with why: refused
		why     string
	}{
		{"+15551234567", "US", ""},  // unassigned test range: possible, placed by its calling code
		{"+14155238886", "US", ""},  // a real US number
		{"+16135550123", "CA", ""},  // +1 in Canada
		{"+447700900123", "GB", ""}, // Ofcom's drama range
		{"+4915123456789", "DE", ""},
		{"+33612345678", "FR", ""},
		{"+79161234567", "RU", ""},
		{"+77011234567", "KZ", ""}, // +7 is RU and KZ
		{"+8613812345678", "CN", ""},
		{"+38344123456", "XK", ""},
		{"+80012345678", "001", ""}, // international freephone: no country
		{"+1555123456", "", "too short"},
		{"+15550001", "", "too short"}, // 7 digits: a US number without its area code
		{"+155512345678", "", "too long"},
		{"+4477009001234567", "", "too long"},
		{"+2801234567", "", "country calling code does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.number, func(t *testing.T) {
			t.Parallel()
			n, err := ParsePhone("to.phone", tc.number)
			if tc.why != "" {
				var e *Error
				require.True(t, errors.As(err, &e), "want *Error, got %v", err)
				require.ErrorIs(t, err, ErrRefused)
				require.Equal(t, CodeInvalidRecipient, e.Code)
				require.Equal(t, "to.phone", e.Field)
				require.Contains(t, e.Msg, tc.why)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.country, n.Country())
			require.Equal(t, tc.number, n.E164)
		})
	}
}

func TestParseRecipient(t *testing.T) {
	t.Parallel()
	p, err := ParseRecipient(store.Recipient{Phone: "+15551234567", WhatsApp: "+15551234567"})
	require.NoError(t, err)
	require.Same(t, p.Phone, p.WhatsApp, "one number is parsed once")
	require.Equal(t, Countries{Phone: "US", WhatsApp: "US"}, p.Countries())

	p, err = ParseRecipient(store.Recipient{Phone: "+15551234567", WhatsApp: "+447700900123", Email: "a@example.com"})
	require.NoError(t, err)
	require.Equal(t, Countries{Phone: "US", WhatsApp: "GB"}, p.Countries())

	p, err = ParseRecipient(store.Recipient{Email: "a@example.com"})
	require.NoError(t, err)
	require.Equal(t, Countries{}, p.Countries())

	_, err = ParseRecipient(store.Recipient{Phone: "+15551234567", WhatsApp: "+4477"})
	var e *Error
	require.True(t, errors.As(err, &e))
	require.Equal(t, "to.whatsapp", e.Field)
}

func TestCheckCountries(t *testing.T) {
	t.Parallel()
	allow := config.Countries{Allow: []string{"US", "GB", "DE"}}
	deny := config.Countries{Deny: []string{"RU", "GB"}}
	tests := []struct {
		name    string
		rule    config.Countries
		to      store.Recipient
		field   string // "" allowed
		country string
	}{
		{"no rule", config.Countries{}, store.Recipient{Phone: "+79161234567"}, "", ""},
		{"allowed", allow, store.Recipient{Phone: "+15551234567", WhatsApp: "+447700900123"}, "", ""},
		{"allowed, one region", allow, store.Recipient{Phone: "+4915123456789"}, "", ""},
		{"not in allow", allow, store.Recipient{Phone: "+33612345678"}, "to.phone", "FR"},
		{"not in allow: Canada shares +1", allow, store.Recipient{Phone: "+16135550123"}, "to.phone", "CA"},
		{"whatsapp not in allow", allow, store.Recipient{Phone: "+15551234567", WhatsApp: "+33612345678"}, "to.whatsapp", "FR"},
		{"non-geographic not in allow", allow, store.Recipient{Phone: "+80012345678"}, "to.phone", "001"},
		{"not denied", deny, store.Recipient{Phone: "+15551234567"}, "", ""},
		{"denied", deny, store.Recipient{WhatsApp: "+79161234567"}, "to.whatsapp", "RU"},
		{"denied: GB shares +44 with Jersey", deny, store.Recipient{Phone: "+447700900123"}, "to.phone", "GB"},
		{"not denied: Kazakhstan shares +7 with Russia", deny, store.Recipient{Phone: "+77011234567"}, "", ""},
		{"no numbers", allow, store.Recipient{Email: "a@example.com"}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParseRecipient(tc.to)
			require.NoError(t, err)
			err = p.CheckCountries("otp", tc.rule)
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			var e *Error
			require.True(t, errors.As(err, &e), "want *Error, got %v", err)
			require.Equal(t, CodeCountryNotAllowed, e.Code)
			require.Equal(t, tc.field, e.Field)
			require.Equal(t, tc.country, e.Country)
			require.Contains(t, e.Msg, `policy "otp"`)
		})
	}
}

// TestEveryRegionIsAConfigCode: a country the library can place a number
// in can be written in a policy's countries.
func TestEveryRegionIsAConfigCode(t *testing.T) {
	t.Parallel()
	for r := range phonenumbers.GetSupportedRegions() {
		require.True(t, config.CountryCode(r), "libphonenumber region %s is not accepted by config", r)
	}
}

// BenchmarkParseRecipient is what the API adds to a send with one number
// as phone and whatsapp: the possibility check always, and placing the
// number when a policy has countries.
func BenchmarkParseRecipient(b *testing.B) {
	to := store.Recipient{Phone: "+15551234567", WhatsApp: "+15551234567"}
	b.Run("possible", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseRecipient(to); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("possible+country", func(b *testing.B) {
		for b.Loop() {
			p, err := ParseRecipient(to)
			if err != nil {
				b.Fatal(err)
			}
			_ = p.Countries()
		}
	})
}

// TestParseE164MatchesLibrary: the fast E.164 split gives what
// phonenumbers.Parse gives, for numbers of every calling code.
func TestParseE164MatchesLibrary(t *testing.T) {
	t.Parallel()
	rest := []string{"0", "00", "1", "12", "0612345", "5551234567", "7700900123", "0612345678", "00123456789", "123456789012345"}
	var n int
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		for _, r := range rest {
			s := "+" + strconv.Itoa(cc) + r
			if len(s) > 16 {
				continue
			}
			want, err := phonenumbers.Parse(s, "")
			got, ok := parseE164(s)
			require.True(t, ok, s)
			if err != nil {
				continue // too short for the library: ours is refused as not possible
			}
			n++
			require.Equal(t, want.GetCountryCode(), got.GetCountryCode(), s)
			require.Equal(t, want.GetNationalNumber(), got.GetNationalNumber(), s)
			require.Equal(t, want.GetItalianLeadingZero(), got.GetItalianLeadingZero(), s)
			require.Equal(t, want.GetNumberOfLeadingZeros(), got.GetNumberOfLeadingZeros(), s)
			require.Equal(t, phonenumbers.IsPossibleNumberWithReason(want), phonenumbers.IsPossibleNumberWithReason(got), s)
		}
	}
	require.Greater(t, n, 1000)
	for _, s := range []string{"", "+", "15551234567", "+0123456", "+1555-123", "+1 5551234567", "+12345678901234567890"} {
		_, ok := parseE164(s)
		require.False(t, ok, s)
	}
}
