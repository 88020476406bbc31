package gateway_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/internal/testpg"
)

// Two instances on one PostgreSQL database, each with its own copy of the
// config file (as config management keeps them): reloading one reloads
// the other.
func TestReloadReachesOtherInstances(t *testing.T) {
	t.Parallel()
	dsn := testpg.Start(t).DB(t)
	yml := strings.Replace(baseConfig, `store: {driver: sqlite, dsn: "%DSN%"}`, `store: {driver: postgres, dsn: "`+dsn+`"}`, 1)
	require.NotEqual(t, baseConfig, yml)
	a := setup(t, yml, false)
	b := setup(t, yml, false)
	require.Nil(t, b.channel(t, "telegram"))

	// The new config reaches both hosts; ops reload only one of them.
	withTelegram := strings.Replace(yml, "policies:", "  telegram: {type: sim, kind: telegram, probe: {interval: 1h}}\npolicies:", 1)
	a.write(t, withTelegram)
	b.write(t, withTelegram)
	// B starts listening for broadcasts a moment after it starts serving,
	// and a broadcast nobody listens to is lost: reload A until B has
	// heard one (each reload broadcasts, changed or not).
	deadline := time.Now().Add(waitFor)
	for b.channel(t, "telegram") == nil {
		status, out := a.reload(t)
		require.Equal(t, http.StatusOK, status, "%v", out)
		for wait := time.Now().Add(500 * time.Millisecond); time.Now().Before(wait) && b.channel(t, "telegram") == nil; {
			time.Sleep(pollEvery)
		}
		require.True(t, time.Now().Before(deadline), "the other instance did not reload:\n%s", b.logs)
	}
	require.Contains(t, b.logs.String(), "another instance reloaded its config")
}
