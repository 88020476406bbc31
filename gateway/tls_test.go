package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testCA issues certificates for 127.0.0.1 and localhost.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "switchboard test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for 127.0.0.1 and localhost,
// named cn so a test can tell which one the server presented.
func (ca *testCA) issue(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	kd, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

// replaceFile writes data to path the way certbot and cert-manager do: a
// new file renamed over the old one.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	require.NoError(t, os.WriteFile(tmp, data, 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// tlsBundle is a gateway serving HTTPS with certificate files.
type tlsBundle struct {
	*testBundle
	ca                *testCA
	certFile, keyFile string
	addr              string
}

func (tb *tlsBundle) install(t *testing.T, cn string) {
	t.Helper()
	c, k := tb.ca.issue(t, cn)
	replaceFile(t, tb.keyFile, k)
	replaceFile(t, tb.certFile, c)
}

// startTLS runs a gateway on yml plus server.tls with files holding a
// certificate named "gen-1" (extra is added under server:).
func startTLS(t *testing.T, extra string) *tlsBundle {
	t.Helper()
	dir := t.TempDir()
	tb := &tlsBundle{ca: newTestCA(t), certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem")}
	tb.install(t, "gen-1")
	tb.testBundle = newBundle(t, tlsConfig(tb.certFile, tb.keyFile, extra))
	tb.build(t, tb.load(t), false, nil)
	tb.run(t)
	tb.addr = strings.TrimPrefix(tb.base, "http://")
	tb.base = "https://" + tb.addr
	tb.http = tb.client(0)
	return tb
}

func tlsConfig(certFile, keyFile, extra string) string {
	return "server:\n  tls: {cert_file: " + certFile + ", key_file: " + keyFile + "}\n" + extra + baseConfig
}

// client trusts the test CA; maxVersion 0 is crypto/tls's default. No
// connection is reused: every request shows the certificate served now.
func (tb *tlsBundle) client(maxVersion uint16) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: tb.ca.pool, MinVersion: tls.VersionTLS10, MaxVersion: maxVersion},
		DisableKeepAlives: true,
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// served is the common name of the certificate a new handshake presents.
func (tb *tlsBundle) served(t *testing.T) string {
	t.Helper()
	d := &tls.Dialer{Config: &tls.Config{RootCAs: tb.ca.pool, ServerName: "127.0.0.1"}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", tb.addr)
	require.NoError(t, err)
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestTLSServesConfiguredCertificate(t *testing.T) {
	t.Parallel()
	tb := startTLS(t, "")
	resp, err := tb.http.Get(tb.base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "gen-1", resp.TLS.PeerCertificates[0].Subject.CommonName)
	require.GreaterOrEqual(t, resp.TLS.Version, uint16(tls.VersionTLS12))
	require.Equal(t, "max-age=31536000", resp.Header.Get("Strict-Transport-Security"))

	// The API works over it, end to end.
	status, out := tb.do(t, http.MethodPost, "/v1/messages", sendKey, otpBody)
	require.Equal(t, http.StatusAccepted, status, "%v", out)

	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		_, err := tb.client(v).Get(tb.base + "/healthz")
		require.Error(t, err, "a client that speaks at most %s is refused", tls.VersionName(v))
		require.Contains(t, err.Error(), "protocol version")
	}
	resp, err = (&http.Client{Timeout: 10 * time.Second}).Get("http://" + tb.addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP to the HTTPS listener")
}

// A reload reads the files again, even when the config did not change; a
// pair that does not load is refused and the old certificate stays.
func TestTLSReloadReadsCertificateFiles(t *testing.T) {
	t.Parallel()
	tb := startTLS(t, "")
	require.Equal(t, "gen-1", tb.served(t))

	tb.install(t, "gen-2")
	status, out := tb.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Equal(t, "gen-2", tb.served(t), "served at once after the reload")

	// New paths, through the config: hot too.
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	c, k := tb.ca.issue(t, "gen-3")
	replaceFile(t, certFile, c)
	replaceFile(t, keyFile, k)
	tb.write(t, tlsConfig(certFile, keyFile, ""))
	status, out = tb.reload(t)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Equal(t, "gen-3", tb.served(t))

	// A key that does not match its certificate: refused, naming the key.
	_, otherKey := tb.ca.issue(t, "other")
	replaceFile(t, keyFile, otherKey)
	status, out = tb.reload(t)
	require.Equal(t, http.StatusUnprocessableEntity, status, "%v", out)
	require.Contains(t, asString(out), "server.tls.cert_file")
	require.Equal(t, "gen-3", tb.served(t), "the old certificate stays in force")
}

// A renewal written over the files is served without a reload or restart;
// a broken one keeps the previous certificate and is logged.
func TestTLSCertificateFilesWatched(t *testing.T) {
	t.Parallel()
	tb := startTLS(t, "")
	require.Equal(t, "gen-1", tb.served(t))

	tb.install(t, "gen-2")
	eventually(t, func() bool { return tb.served(t) == "gen-2" }, "the renewed certificate is served")

	replaceFile(t, tb.certFile, []byte("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n"))
	eventually(t, func() bool {
		require.Equal(t, "gen-2", tb.served(t), "a broken file leaves the previous certificate in force")
		return strings.Contains(tb.logs.String(), "TLS certificate files changed but do not load")
	}, "the broken file is logged")
	require.Equal(t, 1, strings.Count(tb.logs.String(), "do not load"), "logged once, not on every handshake")

	tb.install(t, "gen-3")
	eventually(t, func() bool { return tb.served(t) == "gen-3" }, "fixed files are served")
}

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out waiting: %s", what)
		time.Sleep(pollEvery * 5)
	}
}

func asString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// HSTS and a Secure dashboard cookie whenever the client came over HTTPS:
// TLS to the gateway, a trusted proxy's X-Forwarded-Proto: https, or an
// https public_url; never over plain HTTP from a peer nobody vouches for.
func TestHSTSAndSecureCookie(t *testing.T) {
	t.Parallel()
	plain := func(server string) *testBundle {
		yml := baseConfig
		if server != "" {
			yml = "server:\n" + server + "\n" + baseConfig
		}
		return setup(t, yml, false)
	}
	tlsTB := startTLS(t, "")
	untrusted := plain("")
	trusted := plain("  trusted_proxies: [127.0.0.1]")
	public := plain(`  public_url: "https://sb.example.com"`)
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		name   string
		base   string
		client *http.Client
		proto  string // X-Forwarded-Proto
		secure bool
	}{
		{"TLS", tlsTB.base, tlsTB.http, "", true},
		{"plain HTTP", untrusted.base, noRedirect, "", false},
		{"plain HTTP, untrusted peer claims https", untrusted.base, noRedirect, "https", false},
		{"trusted proxy, https", trusted.base, noRedirect, "https", true},
		{"trusted proxy, http", trusted.base, noRedirect, "http", false},
		{"https public_url", public.base, noRedirect, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.base)
			require.NoError(t, err)
			for _, path := range []string{"/healthz", "/v1/channels"} {
				req, err := http.NewRequest(http.MethodGet, tt.base+path, nil)
				require.NoError(t, err)
				if tt.proto != "" {
					req.Header.Set("X-Forwarded-Proto", tt.proto)
				}
				resp, err := tt.client.Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, tt.secure, resp.Header.Get("Strict-Transport-Security") != "", "%s: HSTS", path)
			}

			req, err := http.NewRequest(http.MethodPost, tt.base+"/ui/login", strings.NewReader(url.Values{"key": {readKey}}.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", u.Scheme+"://"+u.Host)
			if tt.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			resp, err := tt.client.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusSeeOther, resp.StatusCode)
			var found bool
			for _, c := range resp.Cookies() {
				if c.Name == "sb_session" {
					found = true
					require.Equal(t, tt.secure, c.Secure, "the session cookie's Secure flag")
					require.True(t, c.HttpOnly)
				}
			}
			require.True(t, found, "signed in: %v", resp.Header)
		})
	}
}
