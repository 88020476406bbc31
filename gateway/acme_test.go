package gateway_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"
)

// acmeDomain is the name the gateway gets a certificate for. The test's
// DNS server (below) resolves it to 127.0.0.1 for Pebble's validation.
const acmeDomain = "gw.switchboard.test"

// TestACMEFromPebble gets a certificate from Pebble, Let's Encrypt's ACME
// test server, run from its module (a go tool of this module), with a real
// TLS-ALPN-01 challenge: Pebble resolves the domain through a DNS server on
// 127.0.0.1 and connects to the gateway's listener to validate it. A
// client that trusts only Pebble's root then verifies the certificate the
// gateway serves. A second gateway on the same cache_dir serves the cached
// certificate without a new order.
func TestACMEFromPebble(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pebbleBin := buildPebble(t, dir)

	// The gateway's listener first: Pebble's validation connects to its port.
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := &alpnSniffer{Listener: raw}
	gwPort := raw.Addr().(*net.TCPAddr).Port
	dnsAddr, dnsQueries := serveTestDNS(t)

	// Pebble's own HTTPS (the ACME directory) uses a certificate of a test
	// CA; the gateway trusts it through server.tls.acme.ca_file.
	ca := newTestCA(t)
	certPEM, keyPEM := ca.issue(t, "pebble")
	caFile := filepath.Join(dir, "pebble-https-ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.pem, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pebble-cert.pem"), certPEM, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pebble-key.pem"), keyPEM, 0o600))
	pebbleAddr, mgmtAddr := freeTCPAddr(t), freeTCPAddr(t)
	var pc struct {
		Pebble map[string]any `json:"pebble"`
	}
	pc.Pebble = map[string]any{
		"listenAddress": pebbleAddr, "managementListenAddress": mgmtAddr,
		"certificate": filepath.Join(dir, "pebble-cert.pem"), "privateKey": filepath.Join(dir, "pebble-key.pem"),
		"httpPort": 1, "tlsPort": gwPort, // TLS-ALPN-01 goes to the gateway's port
		"retryAfter":   map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm": "ecdsa",
		"profiles":     map[string]any{"default": map[string]any{"description": "test", "validityPeriod": 7776000}},
	}
	pcData, err := json.Marshal(pc)
	require.NoError(t, err)
	pebbleCfg := filepath.Join(dir, "pebble.json")
	require.NoError(t, os.WriteFile(pebbleCfg, pcData, 0o600))
	pebbleLog := startPebble(t, pebbleBin, pebbleCfg, dnsAddr)
	pebbleClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}}
	eventually(t, func() bool {
		resp, err := pebbleClient.Get("https://" + pebbleAddr + "/dir")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "Pebble answers")

	cacheDir := filepath.Join(dir, "acme")
	gwConfig := fmt.Sprintf(`server:
  tls:
    acme:
      domains: [%s]
      email: ops@example.com
      directory_url: "https://%s/dir"
      cache_dir: %s
      ca_file: %s
`, acmeDomain, pebbleAddr, cacheDir, caFile) + baseConfig
	tb := newBundle(t, gwConfig)
	tb.build(t, tb.load(t), false, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tb.g.Run(ctx, ln) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			require.NoError(t, <-done)
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("gateway log:\n%s\nPebble log:\n%s", tb.logs, pebbleLog)
		}
	})

	// Pebble's root (new on every Pebble start) is the only one trusted.
	resp, err := pebbleClient.Get("https://" + mgmtAddr + "/roots/0")
	require.NoError(t, err)
	rootPEM, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(rootPEM), "%s", rootPEM)

	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: acmeDomain},
		// The domain names the certificate; the connection goes to loopback.
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, raw.Addr().String())
		},
		DisableKeepAlives: true,
	}}
	resp, err = client.Get("https://" + acmeDomain + "/healthz")
	require.NoError(t, err, "the certificate the gateway serves verifies against Pebble's root")
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "max-age=31536000", resp.Header.Get("Strict-Transport-Security"))
	leaf := resp.TLS.PeerCertificates[0]
	require.Equal(t, []string{acmeDomain}, leaf.DNSNames)
	require.Contains(t, leaf.Issuer.CommonName, "Pebble")

	// A real challenge, not PEBBLE_VA_ALWAYS_VALID: Pebble looked the
	// domain up and validated TLS-ALPN-01 against the gateway's listener.
	require.Greater(t, dnsQueries.Load(), int32(0), "Pebble resolved the domain")
	require.True(t, ln.sawACMEALPN.Load(), "a connection offered the acme-tls/1 protocol: the TLS-ALPN-01 challenge")
	require.Contains(t, pebbleLog.String(), "set VALID by completed challenge")
	require.NotContains(t, pebbleLog.String(), "Skipping real validation")

	fi, err := os.Stat(cacheDir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "the ACME cache holds the account and certificate keys")

	// Restart on the same cache: the same certificate, no new order
	// (Pebble could not validate one: it still points at the old port).
	stop()
	orders := strings.Count(pebbleLog.String(), "Pulled a task")
	tb2 := newBundle(t, gwConfig)
	tb2.build(t, tb2.load(t), false, nil)
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- tb2.g.Run(ctx2, ln2) }()
	t.Cleanup(func() { cancel2(); require.NoError(t, <-done2) })
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", ln2.Addr().String(), &tls.Config{RootCAs: roots, ServerName: acmeDomain})
	require.NoError(t, err)
	require.True(t, conn.ConnectionState().PeerCertificates[0].Equal(leaf), "the cached certificate")
	conn.Close()
	require.Equal(t, orders, strings.Count(pebbleLog.String(), "Pulled a task"), "no new validation")
}

// buildPebble builds Pebble at the version go.mod pins (a go tool of this
// module; offline once the module cache has it).
func buildPebble(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "building Pebble needs the go command")
	bin := filepath.Join(dir, "pebble")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/letsencrypt/pebble/v2/cmd/pebble")
	cmd.Dir = ".." // the module root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build pebble: %s", out)
	return bin
}

// startPebble runs Pebble until the test ends and returns its log.
func startPebble(t *testing.T, bin, cfg, dnsAddr string) *lockedBuffer {
	t.Helper()
	log := &lockedBuffer{}
	cmd := exec.Command(bin, "-config", cfg, "-dnsserver", dnsAddr, "-strict")
	cmd.Env = append(os.Environ(),
		"PEBBLE_VA_NOSLEEP=1",      // validate at once instead of after up to 5 s
		"PEBBLE_WFE_NONCEREJECT=0", // no random badNonce (the client would retry)
	)
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	})
	return log
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// serveTestDNS answers A queries for acmeDomain with 127.0.0.1 (and no
// AAAA), over TCP as Pebble asks, until the test ends.
func serveTestDNS(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	var queries atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, qq := range q.Question {
			if strings.EqualFold(qq.Name, acmeDomain+".") {
				queries.Add(1)
			}
			if qq.Qtype == dns.TypeA && strings.EqualFold(qq.Name, acmeDomain+".") {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String(), &queries
}

// alpnSniffer notes whether a connection's ClientHello offered acme-tls/1
// (ALPN protocol names travel in the clear).
type alpnSniffer struct {
	net.Listener
	sawACMEALPN atomic.Bool
}

func (l *alpnSniffer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, l: l}, nil
}

type sniffConn struct {
	net.Conn
	l    *alpnSniffer
	head []byte // the first bytes read: the ClientHello
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if len(c.head) < 4096 && n > 0 {
		c.head = append(c.head, p[:n]...)
		if bytes.Contains(c.head, []byte("acme-tls/1")) {
			c.l.sawACMEALPN.Store(true)
		}
	}
	return n, err
}
