package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/client"
)

// The keys every rendered config carries.
const (
	sendKey  = "dev-send-key-0123456789"
	readKey  = "dev-read-key-0123456789"
	adminKey = "dev-admin-key-0123456789"
)

// Bounds for the polling helpers. Waits poll; they never sleep and hope.
const (
	pollEvery    = 20 * time.Millisecond
	readyTimeout = 10 * time.Second
	stateTimeout = 10 * time.Second
	stopTimeout  = 30 * time.Second
)

// gwConfig is the data for testdata/gateway.yaml.tmpl.
type gwConfig struct {
	DSN                        string
	Poll, Lease                string
	SendKey, ReadKey, AdminKey string
	Channels                   []*simChannel
	ReceiptTimeout             map[string]string // channel -> deadline, policy otp
	DBDir                      string            // where the SQLite file goes; empty: the gateway's temp dir
	BreakerOpenFor             string            // every channel's breaker.open_for; empty: 1m
	CallbackTimeout            string            // callbacks.timeout; empty: the default
}

type simChannel struct {
	Name, Kind, Mode      string
	Latency, ReceiptDelay string
	RetryAttempts         int
	Backoff               string
	ProbeInterval         string
	NoProbe               bool
	SendTimeout           string // empty: the default
}

// fastConfig is tuned for fast failover tests: no send latency, quick
// receipts, two tries per channel, a breaker that opens after two failures
// and stays open, quick probes, and a 300ms receipt deadline on whatsapp.
func fastConfig() *gwConfig {
	ch := func(name, kind string) *simChannel {
		return &simChannel{
			Name: name, Kind: kind, Mode: "up", Latency: "0s", ReceiptDelay: "10ms",
			RetryAttempts: 2, Backoff: "20ms", ProbeInterval: "50ms",
		}
	}
	return &gwConfig{
		Poll: "20ms", Lease: "30s",
		SendKey: sendKey, ReadKey: readKey, AdminKey: adminKey,
		Channels: []*simChannel{
			ch("whatsapp", "whatsapp"), ch("sms", "sms"), ch("email", "email"), ch("telegram", "telegram"),
		},
		ReceiptTimeout: map[string]string{"whatsapp": "300ms"},
	}
}

// channel returns the named channel of c; it panics on a typo in a test.
func (c *gwConfig) channel(name string) *simChannel {
	for _, ch := range c.Channels {
		if ch.Name == name {
			return ch
		}
	}
	panic("no channel " + name)
}

var configTemplate = template.Must(template.ParseFiles(filepath.Join("testdata", "gateway.yaml.tmpl")))

// gateway is one switchboard serve process (and its restarts) on one
// config and one SQLite file.
type gateway struct {
	t       testing.TB
	dir     string
	cfgPath string
	logPath string

	URL               string
	Send, Read, Admin *client.Client

	proc *proc // the current process; nil before the first start
}

// proc is one gateway process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	err  error         // cmd.Wait's result, set before done is closed
}

// startGateway renders cfg into a fresh temp dir (SQLite file inside it),
// starts the gateway and waits until it is ready. At the end of the test
// it is stopped with SIGTERM and must exit 0; on failure its log is printed.
func startGateway(t *testing.T, cfg *gwConfig) *gateway {
	t.Helper()
	dir := t.TempDir()
	cfg.DSN = filepath.Join(dir, "switchboard.db")
	if cfg.DBDir != "" {
		cfg.DSN = filepath.Join(cfg.DBDir, "switchboard.db")
	}
	var buf bytes.Buffer
	require.NoError(t, configTemplate.Execute(&buf, cfg))
	g := &gateway{
		t: t, dir: dir,
		cfgPath: filepath.Join(dir, "switchboard.yaml"),
		logPath: filepath.Join(dir, "switchboard.log"),
	}
	require.NoError(t, os.WriteFile(g.cfgPath, buf.Bytes(), 0o600))
	t.Cleanup(func() {
		if g.running() {
			g.stop(t)
		}
		if t.Failed() {
			g.dumpLog(t)
		}
	})
	g.start(t)
	return g
}

// start launches the process on a free port and waits for /readyz. The
// port is picked by listening on :0 and closing; if another test grabs it
// in between, the start is retried on a new port.
func (g *gateway) start(t testing.TB) {
	t.Helper()
	for try := 1; ; try++ {
		err := g.startOnce(t)
		if err == nil {
			return
		}
		if errors.Is(err, errAddrInUse) && try < 3 {
			t.Logf("port taken, retrying: %v", err)
			continue
		}
		t.Fatalf("start gateway: %v", err)
	}
}

var errAddrInUse = errors.New("address already in use")

func (g *gateway) startOnce(t testing.TB) error {
	addr := freeAddr(t)
	logf, err := os.OpenFile(g.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy
	logStart, _ := logf.Seek(0, io.SeekEnd)
	fmt.Fprintf(logf, "=== e2e: serve --listen %s (%s)\n", addr, time.Now().Format(time.RFC3339Nano))

	cmd := exec.Command(binary, "serve", "--config", g.cfgPath, "--listen", addr)
	cmd.Dir = g.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", binary, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	g.proc = p
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	g.URL = "http://" + addr
	g.Send, g.Read, g.Admin = client.New(g.URL, sendKey), client.New(g.URL, readKey), client.New(g.URL, adminKey)

	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-p.done:
			out := g.logSince(logStart)
			if strings.Contains(out, "address already in use") {
				return fmt.Errorf("%s: %w", addr, errAddrInUse)
			}
			return fmt.Errorf("gateway exited before it was ready (%v); its log:\n%s", p.err, out)
		default:
		}
		resp, err := hc.Get(g.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			g.kill(t)
			return fmt.Errorf("gateway on %s not ready within %s (last: %v)", addr, readyTimeout, err)
		}
		time.Sleep(pollEvery)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func (g *gateway) running() bool {
	if g.proc == nil {
		return false
	}
	select {
	case <-g.proc.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and asserts a graceful shutdown: exit code 0 within
// stopTimeout.
func (g *gateway) stop(t testing.TB) {
	t.Helper()
	p := g.proc
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM gateway: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		t.Errorf("gateway did not exit within %s of SIGTERM; killing it", stopTimeout)
		g.kill(t)
		return
	}
	if p.err != nil {
		t.Errorf("gateway did not shut down cleanly after SIGTERM: %v (want exit code 0)", p.err)
	}
}

// kill sends SIGKILL (a crash) and waits for the process to be gone.
func (g *gateway) kill(t testing.TB) {
	t.Helper()
	_ = g.proc.cmd.Process.Kill()
	select {
	case <-g.proc.done:
	case <-time.After(stopTimeout):
		t.Fatalf("gateway did not exit after SIGKILL")
	}
}

// restart starts a new process on the same config and SQLite file.
func (g *gateway) restart(t testing.TB) {
	t.Helper()
	require.False(t, g.running(), "restart of a running gateway")
	g.start(t)
}

func (g *gateway) logSince(off int64) string {
	b, err := os.ReadFile(g.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if off > int64(len(b)) {
		off = 0
	}
	return string(b[off:])
}

// dumpLog prints the gateway's log, its tail if it is long.
func (g *gateway) dumpLog(t testing.TB) {
	const maxLog = 64 << 10
	out := g.logSince(0)
	if len(out) > maxLog {
		out = "...\n" + out[len(out)-maxLog:]
	}
	t.Logf("gateway log (%s):\n%s", g.logPath, out)
}

// eventually polls cond every pollEvery until it holds, failing the test
// with cond's last description after timeout.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, detail)
		}
		time.Sleep(pollEvery)
	}
}

func isFinal(status string) bool {
	switch status {
	case "delivered", "read", "failed", "expired":
		return true
	}
	return false
}

// waitFinal polls a message until its status is final and returns it.
func (g *gateway) waitFinal(t testing.TB, id string) *client.Message {
	t.Helper()
	var m *client.Message
	eventually(t, stateTimeout, "message "+id+" to reach a final status", func() (bool, string) {
		var err error
		m, err = g.Read.Get(context.Background(), id)
		if err != nil {
			return false, err.Error()
		}
		return isFinal(m.Status), "status " + m.Status
	})
	return m
}

// channelView is one entry of GET /v1/channels.
type channelView struct {
	Name           string `json:"name"`
	Kind           string `json:"kind"`
	State          string `json:"state"`
	Breaker        string `json:"breaker"`
	DisabledReason string `json:"disabled_reason"`
	SimMode        string `json:"sim_mode"`
}

func (g *gateway) channel(t testing.TB, name string) channelView {
	t.Helper()
	var out struct {
		Channels []channelView `json:"channels"`
	}
	require.NoError(t, g.Read.Do(context.Background(), http.MethodGet, "/v1/channels", nil, &out))
	for _, c := range out.Channels {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("GET /v1/channels has no channel %q: %+v", name, out.Channels)
	return channelView{}
}

// waitChannel polls GET /v1/channels until cond holds for the channel.
func (g *gateway) waitChannel(t testing.TB, name, what string, cond func(channelView) bool) channelView {
	t.Helper()
	var c channelView
	eventually(t, stateTimeout, name+" "+what, func() (bool, string) {
		c = g.channel(t, name)
		return cond(c), fmt.Sprintf("%+v", c)
	})
	return c
}

// setSim changes a sim channel's mode (admin).
func (g *gateway) setSim(t testing.TB, name, mode string) {
	t.Helper()
	var c channelView
	require.NoError(t, g.Admin.Do(context.Background(), http.MethodPost, "/v1/channels/"+name+"/sim", map[string]string{"mode": mode}, &c))
	require.Equal(t, mode, c.SimMode)
}

// otp is an OTP for a recipient with whatsapp, phone and email.
func otp(n int) *client.SendRequest {
	phone := fmt.Sprintf("+1555%07d", n)
	return &client.SendRequest{
		To:   client.Recipient{Phone: phone, WhatsApp: phone, Email: fmt.Sprintf("user%d@example.com", n)},
		Body: fmt.Sprintf("Your code is %06d", n),
		Tags: []string{"otp"},
	}
}

// send posts req and returns the new id.
func (g *gateway) send(t testing.TB, req *client.SendRequest) string {
	t.Helper()
	res, err := g.Send.Send(context.Background(), req, "")
	require.NoError(t, err)
	require.NotEmpty(t, res.ID)
	return res.ID
}
