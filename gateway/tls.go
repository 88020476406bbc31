package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/switchboard-gw/switchboard/config"
)

// certCheckEvery bounds how often a handshake looks at the certificate
// files: a renewal is in force within a second of its last write, and a
// busy listener does not stat the files on every connection.
const certCheckEvery = time.Second

// certFiles serves the certificate of server.tls.cert_file and key_file,
// reading the files again when they change on disk (a handshake notices)
// and on every reload (certFiles.prepare, then install).
type certFiles struct {
	log *slog.Logger

	mu       sync.Mutex
	certFile string
	keyFile  string
	cert     *tls.Certificate
	loaded   pairStamp // the files cert came from
	failed   pairStamp // the last pair that did not load: not retried until it changes
	lastErr  string    // and why: logged once per change of files or error
	checked  time.Time
}

// pairStamp identifies the content of a certificate and key file pair
// without reading it: the same file (inode), size and modification time.
type pairStamp struct{ cert, key os.FileInfo }

func (p pairStamp) same(q pairStamp) bool {
	return sameFile(p.cert, q.cert) && sameFile(p.key, q.key)
}

func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

func statPair(certFile, keyFile string) (pairStamp, error) {
	c, err := os.Stat(certFile)
	if err != nil {
		return pairStamp{}, err
	}
	k, err := os.Stat(keyFile)
	if err != nil {
		return pairStamp{}, err
	}
	return pairStamp{c, k}, nil
}

// loadPair reads a certificate and key pair; errors name the config key.
func loadPair(t config.TLS) (*tls.Certificate, pairStamp, error) {
	st, err := statPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, pairStamp{}, err
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, pairStamp{}, err
	}
	return &cert, st, nil
}

// newCertFiles loads the configured pair: a gateway does not start without
// a certificate it can serve.
func newCertFiles(cfg *config.Config, log *slog.Logger) (*certFiles, error) {
	c := &certFiles{log: log}
	cert, st, err := loadPair(cfg.Server.TLS)
	if err != nil {
		return nil, tlsConfigError(cfg, err)
	}
	c.install(cfg.Server.TLS, cert, st)
	return c, nil
}

func tlsConfigError(cfg *config.Config, err error) config.Errors {
	return config.Errors{{File: cfg.Path, Line: cfg.Line("server.tls.cert_file"), Key: "server.tls.cert_file",
		Msg: fmt.Sprintf("cannot load the certificate and key (cert_file %s, key_file %s): %v", cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile, err)}}
}

// install puts a loaded pair in force.
func (c *certFiles) install(t config.TLS, cert *tls.Certificate, st pairStamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.certFile, c.keyFile = t.CertFile, t.KeyFile
	c.cert, c.loaded, c.failed, c.lastErr = cert, st, pairStamp{}, ""
	c.checked = time.Now()
}

// GetCertificate is tls.Config.GetCertificate: the pair in force, read
// again first if the files changed since it was loaded. A new pair that
// does not load (half written, a key that does not match) leaves the old
// one in force; the error is logged once per change of the files.
func (c *certFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= certCheckEvery {
		c.checked = now
		c.refreshLocked()
	}
	return c.cert, nil
}

func (c *certFiles) refreshLocked() {
	st, err := statPair(c.certFile, c.keyFile)
	if err == nil && (st.same(c.loaded) || st.same(c.failed)) {
		return
	}
	var cert *tls.Certificate
	if err == nil {
		cert, st, err = loadPair(config.TLS{CertFile: c.certFile, KeyFile: c.keyFile})
	}
	if err != nil {
		if !st.same(c.failed) || err.Error() != c.lastErr {
			c.log.Error("TLS certificate files changed but do not load; still serving the previous certificate",
				"cert_file", c.certFile, "key_file", c.keyFile, "err", err)
		}
		c.failed, c.lastErr = st, err.Error()
		return
	}
	c.cert, c.loaded, c.failed, c.lastErr = cert, st, pairStamp{}, ""
	c.log.Info("TLS certificate files changed: serving the new certificate", "cert_file", c.certFile, "subject", certSubject(cert))
}

func certSubject(c *tls.Certificate) string {
	if c.Leaf != nil {
		if len(c.Leaf.DNSNames) > 0 {
			return c.Leaf.DNSNames[0]
		}
		return c.Leaf.Subject.CommonName
	}
	return ""
}

// newACME builds the ACME certificate manager of server.tls.acme. ctx
// bounds its requests to the CA: they end when the gateway stops.
func newACME(ctx context.Context, cfg *config.Config) (*autocert.Manager, error) {
	a := cfg.Server.TLS.ACME
	rt := http.DefaultTransport.(*http.Transport).Clone()
	if a.CAFile != "" {
		pem, err := os.ReadFile(a.CAFile)
		pool := x509.NewCertPool()
		if err == nil && !pool.AppendCertsFromPEM(pem) {
			err = errors.New("no PEM certificates in it")
		}
		if err != nil {
			return nil, config.Errors{{File: cfg.Path, Line: cfg.Line("server.tls.acme.ca_file"), Key: "server.tls.acme.ca_file",
				Msg: fmt.Sprintf("cannot load %s: %v", a.CAFile, err)}}
		}
		rt.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		HostPolicy: autocert.HostWhitelist(a.Domains...),
		Cache:      autocert.DirCache(a.Cache()),
		Email:      a.Email,
		Client: &acme.Client{
			DirectoryURL: a.Directory(),
			UserAgent:    "switchboard",
			HTTPClient:   &http.Client{Transport: boundTransport{ctx: ctx, rt: rt}, Timeout: time.Minute},
		},
	}, nil
}

// boundTransport ends every request when ctx is done, so an ACME order in
// flight does not hold up shutdown.
type boundTransport struct {
	ctx context.Context
	rt  http.RoundTripper
}

func (b boundTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := b.ctx.Err(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(b.ctx, cancel)
	resp, err := b.rt.RoundTrip(r.WithContext(ctx))
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, done: func() { stop(); cancel() }}
	return resp, nil
}

// cancelBody releases the request's context once the body is closed.
type cancelBody struct {
	io.ReadCloser
	done func()
	once sync.Once
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// serverTLS is the listener's TLS configuration: TLS 1.2 or later, the
// certificate from files or ACME (whose challenge protocol, acme-tls/1,
// it also answers).
func (g *Gateway) serverTLS() *tls.Config {
	var tc *tls.Config
	switch {
	case g.acme != nil:
		tc = g.acme.TLSConfig()
	case g.certs != nil:
		tc = &tls.Config{GetCertificate: g.certs.GetCertificate, NextProtos: []string{"h2", "http/1.1"}}
	default:
		return nil
	}
	tc.MinVersion = tls.VersionTLS12
	return tc
}

// prefetchACME orders (or loads from the cache) each domain's certificate
// as soon as the listener serves, so the first client does not wait for
// the CA, and a CA that cannot issue shows in the log at start.
func (g *Gateway) prefetchACME(domains []string) {
	for _, d := range domains {
		// A hello that supports ECDSA: the certificate modern clients get.
		hello := &tls.ClientHelloInfo{
			ServerName:       d,
			SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
			SupportedCurves:  []tls.CurveID{tls.CurveP256},
			CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		}
		if _, err := g.acme.GetCertificate(hello); err != nil {
			g.log.Error("ACME: no certificate yet; handshakes for this name will retry", "domain", d, "err", err)
			continue
		}
		g.log.Info("ACME: certificate ready", "domain", d)
	}
}

// tlsMode names how the listener serves, for the start log line.
func tlsMode(cfg *config.Config) string {
	switch t := cfg.Server.TLS; {
	case t.ACME.Enabled():
		return "acme"
	case t.Enabled():
		return "files"
	}
	return "off"
}
