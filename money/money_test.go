package money_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/money"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want money.Micros
		err  error
		out  string
	}{
		{"0.0079", 7900, nil, "0.0079"},
		{"-0.00750", -7500, nil, "-0.0075"},
		{"50", 50_000_000, nil, "50"},
		{"+1.5", 1_500_000, nil, "1.5"},
		{".25", 250_000, nil, "0.25"},
		{"0.1234560", 123456, nil, "0.123456"},
		{"0", 0, nil, "0"},
		{"0.0000001", 0, money.ErrPrecision, ""},
		{"1e-3", 0, money.ErrSyntax, ""},
		{"1,5", 0, money.ErrSyntax, ""},
		{"", 0, money.ErrSyntax, ""},
		{".", 0, money.ErrSyntax, ""},
		{"abc", 0, money.ErrSyntax, ""},
		{"99999999999999999999", 0, money.ErrRange, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := money.Parse(tt.in)
			if tt.err != nil {
				require.True(t, errors.Is(err, tt.err), "err = %v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.out, got.String())
		})
	}
}

// TestSumIsExact is why amounts are integers: ten thousand float64 adds
// of 0.0079 do not make 79.
func TestSumIsExact(t *testing.T) {
	t.Parallel()
	p, err := money.Parse("0.0079")
	require.NoError(t, err)
	var sum money.Micros
	var f float64
	for range 10_000 {
		sum += p
		f += 0.0079
	}
	require.Equal(t, "79", sum.String())
	require.NotEqual(t, 79.0, f, "float sums drift")
	require.Equal(t, money.Micros(15800), p.Mul(2))
}

func TestValidCurrency(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"USD", "EUR", "BRL", "JPY"} {
		require.NoError(t, money.ValidCurrency(ok), ok)
	}
	for _, bad := range []string{"usd", "US", "USDD", "XYZ", ""} {
		require.Error(t, money.ValidCurrency(bad), bad)
	}
}

func TestTotals(t *testing.T) {
	t.Parallel()
	var tot money.Totals
	require.Nil(t, tot.Amounts())
	tot.Add("USD", 7900)
	tot.Add("EUR", 100)
	tot.Add("USD", 7900)
	tot.Add("", 5)
	require.Equal(t, []money.Amount{{Currency: "USD", Amount: "0.0158"}, {Currency: "EUR", Amount: "0.0001"}}, tot.Amounts())
}
