package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/internal/syncbuf"
)

type syncBuffer = syncbuf.Buffer

// serveUntil runs serve with args until its log shows want, then stops it.
func serveUntil(t *testing.T, want string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--listen", "127.0.0.1:0", "--watch-config=false"}, args...), &out, &errOut)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(errOut.String(), want) {
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d before logging %q:\n%s", code, want, errOut.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "serve did not log %q:\n%s", want, errOut.String())
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	require.Equal(t, 0, <-done, errOut.String())
	return errOut.String()
}

// The log section sets the format and level; the flags win over it.
func TestServeLogConfig(t *testing.T) {
	t.Parallel()
	dsn := filepath.Join(t.TempDir(), "sb.db")
	path := writeConfig(t, "dsn: data/switchboard.db", "dsn: "+dsn, "\nchannels:", "\nlog: {level: debug, format: json}\n\nchannels:")

	out := serveUntil(t, `"msg":"switchboard serving"`, "--config", path)
	require.Contains(t, out, `"log_level":"debug","log_format":"json"`)

	out = serveUntil(t, `msg="switchboard serving"`, "--config", path, "--log-format", "text", "--log-level", "info")
	require.NotContains(t, out, `"msg"`, "--log-format wins over log.format")
	require.Contains(t, out, "log_level=info log_format=text", "the flags win over the log section")

	code, _, errOut := runCLI(t, "serve", "--log-format", "xml")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `--log-format "xml": want text or json`)
}
