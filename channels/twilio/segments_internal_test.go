package twilio

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// The GSM 03.38 tables: 128 basic codes less the escape, 10 extension
// characters, no character in both.
func TestGSMTables(t *testing.T) {
	t.Parallel()
	require.Equal(t, 127, utf8.RuneCountInString(gsmBasic))
	require.Equal(t, 10, utf8.RuneCountInString(gsmExtension))
	require.Len(t, gsmCost, 137, "no duplicates")
	for _, r := range gsmExtension {
		require.False(t, strings.ContainsRune(gsmBasic, r), "%q in both tables", r)
	}
	require.False(t, strings.ContainsRune(gsmBasic, 0x1B), "the escape is not a character")
}
