package gateway_test

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/internal/testpeers"
	"github.com/switchboard-gw/switchboard/internal/testpg"
)

// The PostgreSQL tests share one server (testpg.DB), and the Twilio tests
// one Prism (testpeers.Prism), each started on first use and stopped here:
// a peer left running would outlive the test binary.
func TestMain(m *testing.M) {
	code := testpg.Main(m)
	testpeers.StopAll()
	os.Exit(code)
}

// peerConfigs returns baseConfig on a new PostgreSQL database, and the same
// with a telegram channel added: the edit config management rolls out.
func peerConfigs(t *testing.T) (v1, v2 string) {
	t.Helper()
	v1 = strings.Replace(baseConfig, `store: {driver: sqlite, dsn: "%DSN%"}`, `store: {driver: postgres, dsn: "`+testpg.DB(t)+`"}`, 1)
	require.NotEqual(t, baseConfig, v1)
	v2 = strings.Replace(v1, "policies:", "  telegram: {type: sim, kind: telegram, probe: {interval: 1h}}\npolicies:", 1)
	return v1, v2
}

// waitTelegram waits until tb runs a config with the telegram channel.
func (tb *testBundle) waitTelegram(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for tb.channel(t, "telegram") == nil {
		require.True(t, time.Now().Before(deadline), "%s:\n%s", what, tb.logs)
		time.Sleep(pollEvery)
	}
}

// waitLog waits until tb's log holds s.
func (tb *testBundle) waitLog(t *testing.T, s, what string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !strings.Contains(tb.logs.String(), s) {
		require.True(t, time.Now().Before(deadline), "%s:\n%s", what, tb.logs)
		time.Sleep(pollEvery)
	}
}

const peerReloadLine = "another instance reloaded its config; reloading"

// Two instances on one PostgreSQL database, each with its own copy of the
// config file (as config management keeps them): reloading one reloads
// the other, once, even if the other was not listening yet.
func TestReloadReachesOtherInstances(t *testing.T) {
	t.Parallel()
	v1, v2 := peerConfigs(t)
	a := setup(t, v1, false)
	b := setup(t, v1, false)
	require.Nil(t, b.channel(t, "telegram"))

	// The new config reaches both hosts; ops reload only one of them.
	a.write(t, v2)
	b.write(t, v2)
	status, out := a.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	b.waitTelegram(t, "the other instance did not reload")
	b.waitLog(t, peerReloadLine, "the other instance did not hear the broadcast")
	require.Contains(t, b.logs.String(), a.g.Dispatcher.Owner(), "the origin is logged")
	require.NotContains(t, a.logs.String(), peerReloadLine, "an instance does not answer its own broadcast")
}

// B is built (its store open, its generation read) with config v1 but not
// running, so nothing of it listens, when A reloads v2 and broadcasts. Once
// B runs it catches up on that broadcast, and only that one: A's earlier
// broadcast predates B.
func TestPeerReloadCaughtUpByLateInstance(t *testing.T) {
	t.Parallel()
	v1, v2 := peerConfigs(t)
	a := setup(t, v1, false)
	status, out := a.reload(t) // a generation from before B
	require.Equal(t, http.StatusOK, status, "%v", out)

	b := newBundle(t, v1)
	b.build(t, b.load(t), false, nil)
	a.write(t, v2)
	b.write(t, v2)
	status, out = a.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.NotNil(t, a.channel(t, "telegram"))

	b.run(t)
	b.waitTelegram(t, "B did not apply v2")
	b.waitLog(t, peerReloadLine, "B did not catch up on A's broadcast")
	require.Equal(t, 1, strings.Count(b.logs.String(), peerReloadLine), "A's broadcasts since B opened, as one reload:\n%s", b.logs)
	require.Contains(t, b.logs.String(), a.g.Dispatcher.Owner())
}

// The startup race: B loads its config file (v1), A reloads v2 and
// broadcasts, and only then does B open the store, whose generation
// already counts that broadcast. B reads its file again once the store is
// open, so it still ends on v2.
func TestPeerReloadBetweenLoadAndStoreOpen(t *testing.T) {
	t.Parallel()
	v1, v2 := peerConfigs(t)
	a := setup(t, v1, false)
	b := newBundle(t, v1)
	cfg := b.load(t)

	a.write(t, v2)
	b.write(t, v2)
	status, out := a.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)

	b.build(t, cfg, false, nil)
	b.run(t)
	b.waitTelegram(t, "B kept the config it loaded before the broadcast")
	require.Contains(t, b.logs.String(), "+ channel telegram", "the re-read at start applied the change")
}
