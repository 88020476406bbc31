package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/gateway"
	"github.com/switchboard-gw/switchboard/pii"
)

// server.metrics_listen moves /metrics to its own listener: the main one,
// which faces the internet for webhooks, answers 404.
func TestMetricsListen(t *testing.T) {
	t.Parallel()
	tb := setup(t, "server:\n  metrics_listen: 127.0.0.1:0\n"+baseConfig, false)
	addrRE := regexp.MustCompile(`msg="metrics serving" addr=(\S+)`)
	var maddr string
	eventually(t, func() bool {
		if m := addrRE.FindStringSubmatch(tb.logs.String()); m != nil {
			maddr = m[1]
		}
		return maddr != ""
	}, "the metrics listener is up")
	require.True(t, strings.HasPrefix(maddr, "127.0.0.1:"), maddr)

	get := func(url string) (int, string) {
		resp, err := tb.http.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	status, body := get("http://" + maddr + "/metrics")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "switchboard_config_last_reload_successful 1")
	status, _ = get("http://" + maddr + "/healthz")
	require.Equal(t, http.StatusNotFound, status, "the metrics listener serves /metrics only")

	status, _ = get(tb.base + "/metrics")
	require.Equal(t, http.StatusNotFound, status, "not on the main listener")
	status, _ = get(tb.base + "/healthz")
	require.Equal(t, http.StatusOK, status)

	// Without it, /metrics stays on the main listener.
	plain := setup(t, baseConfig, false)
	status, body = get(plain.base + "/metrics")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "switchboard_config_last_reload_successful 1")
}

// withDevKeys is baseConfig with the example config's published keys; the
// admin one through an unset ${VAR:-default}, as the example writes it.
func withDevKeys(yml string) string {
	return strings.NewReplacer(
		sendKey, "dev-send-key-0123456789",
		adminKey, `"${SB_TEST_UNSET_ADMIN_KEY:-dev-admin-key-0123456789}"`,
	).Replace(yml)
}

// runOn builds a gateway on the config file in tb and runs it on ln.
func runOn(t *testing.T, tb *testBundle, ln net.Listener, dev bool) (cancel func() error, err error) {
	t.Helper()
	log := slog.New(pii.NewHandler(slog.NewTextHandler(tb.logs, nil)))
	g, err := gateway.New(context.Background(), tb.load(t), gateway.Options{Logger: log, ConfigFile: tb.path, Dev: dev})
	require.NoError(t, err)
	tb.g = g
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	tb.base = "http://127.0.0.1:" + portOf(t, ln)
	// Run refuses before it serves: wait for one or the other.
	deadline := time.Now().Add(waitFor)
	for {
		require.True(t, time.Now().Before(deadline), "the gateway neither served nor refused")
		select {
		case err := <-done:
			stop()
			return nil, err
		default:
		}
		if resp, err := tb.http.Get(tb.base + "/healthz"); err == nil {
			resp.Body.Close()
			return func() error { stop(); return <-done }, nil
		}
		time.Sleep(pollEvery)
	}
}

func portOf(t *testing.T, ln net.Listener) string {
	t.Helper()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	return port
}

// A published dev key on an address other machines can reach refuses to
// run, naming the key and the variable that would set it; Options.Dev
// (serve --dev) allows it with a WARN; a reload to such a config is
// refused. Listeners bind every interface; the test only talks to
// 127.0.0.1.
func TestPublishedKeysOffLoopback(t *testing.T) {
	t.Parallel()
	listenAll := func() net.Listener {
		ln, err := net.Listen("tcp", "0.0.0.0:0")
		require.NoError(t, err)
		return ln
	}

	tb := newBundle(t, withDevKeys(baseConfig))
	_, err := runOn(t, tb, listenAll(), false)
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, `auth.keys[0].key: API key "shop" is a published development key`)
	require.Contains(t, msg, `auth.keys[2].key: API key "ops" is a published development key`)
	require.Contains(t, msg, "The ${SB_TEST_UNSET_ADMIN_KEY:-...} default supplied it because SB_TEST_UNSET_ADMIN_KEY is unset or empty")
	require.Contains(t, msg, "openssl rand -hex 32")
	require.NotContains(t, msg, `"support"`, "the read key is not a published one here")

	// On loopback the same config runs (the example's own setting).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	loop := newBundle(t, withDevKeys(baseConfig))
	stop, err := runOn(t, loop, ln, false)
	require.NoError(t, err)
	require.Contains(t, loop.logs.String(), `msg="an API key comes from its ${VAR:-default} default: the environment variable is unset or empty" key=ops var=SB_TEST_UNSET_ADMIN_KEY`)
	require.NotContains(t, loop.logs.String(), "dev-admin-key", "never the value")
	require.NoError(t, stop())

	// --dev: runs, and says so.
	dev := newBundle(t, withDevKeys(baseConfig))
	stop, err = runOn(t, dev, listenAll(), true)
	require.NoError(t, err)
	require.Contains(t, dev.logs.String(), "--dev: serving a published development API key")
	require.NoError(t, stop())

	// A reload that brings a published key in is refused; the old keys stay.
	real := newBundle(t, baseConfig)
	stop, err = runOn(t, real, listenAll(), false)
	require.NoError(t, err)
	real.write(t, withDevKeys(baseConfig))
	status, out := real.reload(t)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Contains(t, asString(out), `API key \"ops\" is a published development key`)
	status, _ = real.do(t, http.MethodGet, "/v1/channels", adminKey, "")
	require.Equal(t, http.StatusOK, status, "the old admin key still works")
	require.NoError(t, stop())
}
