// Package examples_test runs every example in this directory against a
// live in-process gateway. A missing interpreter fails the test (with what
// to install); nothing is skipped.
package examples_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/gateway"
)

const sendKey = "example-send-key-0123456789"

const gatewayConfig = `
server: {listen: "127.0.0.1:0"}
store: {driver: sqlite, dsn: "%DSN%"}
# The examples receive their callbacks on 127.0.0.1.
callbacks: {allow_hosts: [127.0.0.1]}
auth:
  keys:
    - {name: app, key: ` + sendKey + `, role: send}
channels:
  whatsapp: {type: sim, kind: whatsapp, receipt_delay: 5ms, probe: {interval: 1h}}
  sms:      {type: sim, kind: sms, receipt_delay: 5ms, probe: {interval: 1h}}
  email:    {type: sim, kind: email, receipt_delay: 5ms, probe: {interval: 1h}}
policies:
  - name: otp
    match: {tags: [otp]}
    route: [whatsapp, sms, email]
    ttl: 10m
  - name: default
    route: [whatsapp, sms, email]
`

func startGateway(t *testing.T) (*gateway.Gateway, string) {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "sb.db")
	cfg, err := config.Parse("examples.yaml", []byte(strings.ReplaceAll(gatewayConfig, "%DSN%", dsn)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return g, "http://" + ln.Addr().String()
}

// need finds a program or fails the test saying what to install.
func need(t *testing.T, prog, why string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		t.Fatalf("%s is not on PATH; it is needed to run %s. Install it (this test never skips an example).", prog, why)
	}
	return p
}

var acceptedRE = regexp.MustCompile(`(?m)^accepted ([0-9a-f-]{36})\b`)

func TestExamples(t *testing.T) {
	t.Parallel()
	g, base := startGateway(t)

	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = need(t, "go", "examples/go")
	}
	goExample := filepath.Join(t.TempDir(), "example-go")
	build := exec.Command(goBin, "build", "-o", goExample, "./go")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build examples/go: %s", out)

	examples := []struct {
		name string
		cmd  []string
		want []string
	}{
		{"go", []string{goExample}, []string{"status ", "callback signature verified", "tampered callback rejected", "callback signed during a rotation verified"}},
		{"python", []string{need(t, "python3", "examples/python/send.py"), "python/send.py"}, []string{"status ", "callback signature verified", "tampered callback rejected", "callback signed during a rotation verified"}},
		{"node", []string{need(t, "node", "examples/node/send.js"), "node/send.js"}, []string{"status ", "callback signature verified", "tampered callback rejected", "callback signed during a rotation verified"}},
		{"curl", []string{need(t, "bash", "examples/curl.sh"), "curl.sh"}, []string{"replayed ", "status ", "explain: would go to whatsapp", `batch: "accepted":1, "rejected":1`, "callback signature verified", "tampered callback rejected", "callback signed during a rotation verified"}},
	}
	need(t, "curl", "examples/curl.sh")
	need(t, "openssl", "examples/curl.sh")
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, ex.cmd[0], ex.cmd[1:]...)
			cmd.Env = append(os.Environ(),
				"SWITCHBOARD_URL="+base,
				"SWITCHBOARD_API_KEY="+sendKey,
				"SWITCHBOARD_CALLBACK_SECRET=whsec-test-"+ex.name,
			)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			require.NoError(t, err, "examples/%s failed\nstdout:\n%s\nstderr:\n%s", ex.name, stdout.String(), stderr.String())
			for _, w := range ex.want {
				require.Contains(t, stdout.String(), w, "stderr:\n%s", stderr.String())
			}
			m := acceptedRE.FindStringSubmatch(stdout.String())
			require.NotNil(t, m, "the example prints the accepted message id: %s", stdout.String())
			msg, err := g.Store.Get(context.Background(), m[1])
			require.NoError(t, err, "the message the example sent is in the store")
			require.Equal(t, "otp", msg.Policy)
			require.True(t, strings.HasPrefix(msg.Body, "Your code is "))
		})
	}
}
