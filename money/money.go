// Package money holds amounts of money exactly: what a channel declares a
// message costs, what a provider reports it cost, and what a channel spent
// today against its budget.
//
// An amount is an integer count of millionths of a currency unit (Micros),
// never a float: 0.0079 has no exact binary float, and a day's spend is the
// sum of thousands of such prices, so float sums drift and a budget check
// could land on the wrong side of its cap. Integers add exactly, compare
// exactly, and store as a plain BIGINT in both stores. Six decimals hold
// every price providers quote (Twilio's price has five, Meta's rate cards
// four), and int64 millionths reach 9.2 trillion units, far beyond any
// day's spend. Amounts are written and read as decimal strings ("0.0079"),
// in config and in the API, so no float is ever involved.
package money

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/text/currency"
)

// Micros is an amount in millionths of a currency unit: 7900 is 0.0079.
type Micros int64

// Scale is how many Micros make one unit.
const Scale = 1_000_000

// decimals is how many decimals Micros hold.
const decimals = 6

// ErrSyntax: the text is not a decimal amount.
var ErrSyntax = errors.New("not a decimal amount")

// ErrPrecision: the amount has more decimals than Micros hold.
var ErrPrecision = errors.New("more than 6 decimals")

// ErrRange: the amount does not fit.
var ErrRange = errors.New("amount out of range")

// Parse reads a decimal amount: "0.0079", "-0.00750", "50", "+1.5". No
// exponent, no thousands separator. More than six decimals is an error
// unless the extra digits are zeros: an amount is never rounded silently.
func Parse(s string) (Micros, error) {
	s = strings.TrimSpace(s)
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q: %w", s, ErrSyntax)
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > decimals {
		return 0, fmt.Errorf("%q: %w", s, ErrPrecision)
	}
	frac += strings.Repeat("0", decimals-len(frac))
	if whole == "" {
		whole = "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > (1<<63-1)/Scale-1 {
		return 0, fmt.Errorf("%q: %w", s, ErrRange)
	}
	f, _ := strconv.ParseInt(frac, 10, 64) // six digits: always fits
	m := Micros(w*Scale + f)
	if neg {
		m = -m
	}
	return m, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String writes the amount as a decimal with no trailing zeros: "0.0079",
// "50", "-0.0075".
func (m Micros) String() string {
	sign := ""
	u := uint64(m)
	if m < 0 {
		sign, u = "-", uint64(-m)
	}
	whole, frac := u/Scale, u%Scale
	if frac == 0 {
		return sign + strconv.FormatUint(whole, 10)
	}
	f := strings.TrimRight(fmt.Sprintf("%06d", frac), "0")
	return sign + strconv.FormatUint(whole, 10) + "." + f
}

// UnmarshalText reads a decimal amount (see Parse). In YAML a number such as
// 0.0079 arrives as its source text, so no float is ever involved.
func (m *Micros) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// MarshalText writes the amount as String does.
func (m Micros) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// Mul is m times n (segments, messages); it saturates rather than wrap.
func (m Micros) Mul(n int) Micros {
	if n == 0 || m == 0 {
		return 0
	}
	p := m * Micros(n)
	if p/Micros(n) != m {
		if (m < 0) != (n < 0) {
			return -1 << 63
		}
		return 1<<63 - 1
	}
	return p
}

// ValidCurrency checks that code is an ISO 4217 currency code, upper case
// ("USD", "EUR").
func ValidCurrency(code string) error {
	if len(code) != 3 || strings.ToUpper(code) != code {
		return fmt.Errorf("%q is not an ISO 4217 currency code (three upper-case letters, such as USD or EUR)", code)
	}
	if _, err := currency.ParseISO(code); err != nil {
		return fmt.Errorf("%q is not an ISO 4217 currency code", code)
	}
	return nil
}

// Amount is a sum in one currency, as the API shows it.
type Amount struct {
	Currency string `json:"currency"`
	Amount   string `json:"amount"` // a decimal string, exact (see Micros)
}

// Totals adds amounts per currency, keeping the order currencies first
// appear in.
type Totals struct {
	order []string
	by    map[string]Micros
}

// Add adds m in currency cur; an empty currency is ignored.
func (t *Totals) Add(cur string, m Micros) {
	if cur == "" {
		return
	}
	if t.by == nil {
		t.by = map[string]Micros{}
	}
	if _, ok := t.by[cur]; !ok {
		t.order = append(t.order, cur)
	}
	t.by[cur] += m
}

// Amounts lists the totals, one per currency; nil when nothing was added.
func (t *Totals) Amounts() []Amount {
	if len(t.order) == 0 {
		return nil
	}
	out := make([]Amount, 0, len(t.order))
	for _, c := range t.order {
		out = append(out, Amount{Currency: c, Amount: t.by[c].String()})
	}
	return out
}
