package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// SIGHUP reloads the running binary's config (and does not end it, as
// SIGHUP's default action would); an edit of the file is picked up too.
func TestSIGHUPReloadsConfig(t *testing.T) {
	t.Parallel()
	cfg := fastConfig()
	g := startGateway(t, cfg)

	require.NoError(t, g.proc.cmd.Process.Signal(syscall.SIGHUP))
	eventually(t, stateTimeout, "a reload after SIGHUP", func() (bool, string) {
		log := g.logSince(0)
		return strings.Contains(log, "source=SIGHUP") && strings.Contains(log, "config reloaded: no changes"), "no reload in the log yet"
	})
	require.True(t, g.running(), "SIGHUP must not stop the gateway")

	// Add a channel: the file watcher or a SIGHUP, whichever comes first,
	// puts it in force without a restart.
	cfg.Channels = append(cfg.Channels, &simChannel{
		Name: "fax", Kind: "sms", Mode: "up", Latency: "0s", ReceiptDelay: "10ms",
		RetryAttempts: 1, Backoff: "20ms", ProbeInterval: "50ms",
	})
	var buf bytes.Buffer
	require.NoError(t, configTemplate.Execute(&buf, cfg))
	tmp := g.cfgPath + ".new"
	require.NoError(t, os.WriteFile(tmp, buf.Bytes(), 0o600))
	require.NoError(t, os.Rename(tmp, g.cfgPath))
	require.NoError(t, g.proc.cmd.Process.Signal(syscall.SIGHUP))
	eventually(t, stateTimeout, "channel fax after the reload", func() (bool, string) {
		var out struct {
			Channels []channelView `json:"channels"`
		}
		if err := g.Read.Do(context.Background(), http.MethodGet, "/v1/channels", nil, &out); err != nil {
			return false, err.Error()
		}
		for _, c := range out.Channels {
			if c.Name == "fax" {
				return c.Kind == "sms", fmt.Sprintf("%+v", c)
			}
		}
		return false, fmt.Sprintf("%d channels, no fax", len(out.Channels))
	})
	require.True(t, g.running())
}
