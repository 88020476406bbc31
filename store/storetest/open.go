package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// MustOpen opens a store with open, fails t if it cannot, and closes the
// store (failing t if that fails) when t ends.
func MustOpen[S interface{ Close() error }](t *testing.T, open func(ctx context.Context) (S, error)) S {
	t.Helper()
	s, err := open(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}
