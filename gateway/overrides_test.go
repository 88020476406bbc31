package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
)

// run starts a gateway on cfg and returns its base URL and a stop func
// that shuts it down and waits.
func run(t *testing.T, cfg *config.Config) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	return "http://" + ln.Addr().String(), func() {
		cancel()
		require.NoError(t, <-done)
	}
}

func TestOverrideSurvivesRestart(t *testing.T) {
	t.Parallel()
	dsn := filepath.Join(t.TempDir(), "sb.db")
	load := func() *config.Config {
		cfg, err := config.Parse("t.yaml", []byte(strings.ReplaceAll(baseConfig, "%DSN%", dsn)))
		require.NoError(t, err)
		return cfg
	}
	call := func(base, method, path, key, body string) string {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, 200, resp.StatusCode, string(b))
		return string(b)
	}

	base, stop := run(t, load())
	var disabled struct {
		By string    `json:"disabled_by"`
		At time.Time `json:"disabled_at"`
	}
	require.NoError(t, json.Unmarshal([]byte(call(base, "POST", "/v1/channels/whatsapp/disable", adminKey, `{"reason":"incident 42"}`)), &disabled))
	require.Equal(t, "ops", disabled.By, "the admin key's name")
	require.WithinDuration(t, time.Now(), disabled.At, time.Minute)
	stop()

	base, stop = run(t, load())
	defer stop()
	deadline := time.Now().Add(waitFor)
	for {
		body := call(base, "GET", "/v1/channels", readKey, "")
		if strings.Contains(body, `"disabled_reason":"incident 42"`) {
			// Who and when come back from the store with the override.
			require.Contains(t, body, `"disabled_by":"ops"`)
			require.Contains(t, body, `"disabled_at":"`+disabled.At.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05"))
			break
		}
		require.True(t, time.Now().Before(deadline), "whatsapp not disabled after restart: %s", body)
		time.Sleep(pollEvery)
	}
	// Enabling is stored too: the next restart starts it enabled.
	call(base, "POST", "/v1/channels/whatsapp/enable", adminKey, "")
	body := call(base, "GET", "/v1/channels", readKey, "")
	require.NotContains(t, body, "incident 42")
	require.NotContains(t, body, "disabled_by")
	require.NotContains(t, body, "disabled_at")
}
