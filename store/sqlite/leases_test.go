package sqlite

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// RenewLeases seeks each id by primary key, never scans messages.
func TestRenewLeasesPlan(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	plan := explain(t, s, renewLeasesSQL, int64(1), "owner", `["a","b"]`)
	require.Contains(t, plan, "USING PRIMARY KEY (id=?)")
	require.NotContains(t, plan, "SCAN messages")
}
