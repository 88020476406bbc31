package pgcluster

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	got, err := WithDatabase("postgres://u:p@h:5/postgres?sslmode=disable", "x")
	require.NoError(t, err)
	require.Equal(t, "postgres://u:p@h:5/x?sslmode=disable", got)
	got, err = WithDatabase("host=h user=u", "x")
	require.NoError(t, err)
	require.Equal(t, "host=h user=u dbname=x", got)
}
