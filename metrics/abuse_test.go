package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestAbuseCounters(t *testing.T) {
	t.Parallel()
	m := New()
	// Every reason is exported at 0 before the first failure.
	require.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader(`
# HELP switchboard_auth_failures_total Failed authentications on the API and the dashboard sign-in, by reason: missing, invalid, forbidden, or blocked (refused while the client address is blocked after repeated failures).
# TYPE switchboard_auth_failures_total counter
switchboard_auth_failures_total{reason="blocked"} 0
switchboard_auth_failures_total{reason="forbidden"} 0
switchboard_auth_failures_total{reason="invalid"} 0
switchboard_auth_failures_total{reason="missing"} 0
`), "switchboard_auth_failures_total"))
	m.AuthFailed("invalid")
	m.AuthFailed("invalid")
	m.RateLimited("shop", 1)
	m.RateLimited("shop", 3)
	require.Equal(t, 2.0, testutil.ToFloat64(m.authFailures.WithLabelValues("invalid")))
	require.Equal(t, 4.0, testutil.ToFloat64(m.rateLimited.WithLabelValues("shop")))
}
