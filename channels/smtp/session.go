package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/wneessen/go-mail/smtp"
)

// Why this package opens SMTP sessions itself instead of calling go-mail's
// Client.DialAndSendWithContext: that call does connect, EHLO, STARTTLS and
// AUTH in one step, and reports "tls: mandatory but the server offers no
// STARTTLS" as a bare fmt.Errorf, which only string matching could tell
// from a refused connection. Doing the steps here with go-mail's smtp
// package (its net/smtp fork with more SASL mechanisms) tells every failure
// apart by the step it happened in, and lets Probe stop after AUTH. The
// message itself is still written by go-mail (Client.SendWithSMTPClient),
// whose *SendError says which command failed and with what reply.

// Errors found before any command fails; each means the configuration does
// not fit this server, so all are misconfigured.
var (
	errNoStartTLS   = errors.New("server does not offer STARTTLS, and tls is mandatory")
	errNoAuth       = errors.New("server does not offer AUTH, but a username is configured")
	errNoMechanism  = errors.New("server offers no usable AUTH mechanism")
	errMechanism    = errors.New("server does not offer the configured AUTH mechanism")
	errPlaintextPwd = errors.New("refusing to send the password in clear text over an unencrypted connection (use TLS, or tls: none to allow it)")
)

// session is one open SMTP connection, past EHLO, STARTTLS and AUTH.
type session struct {
	client *smtp.Client
	conn   *boundedConn
	stop   func() bool // stops the ctx watcher
}

// quit ends the session politely. Its errors do not matter: the work is
// done (or, for a probe, proven) by then.
func (s *session) quit() { _ = s.client.Quit() }

// close releases the connection; after quit it is a no-op.
func (s *session) close() {
	s.stop()
	_ = s.client.Close()
}

// dial connects and prepares a session for MAIL FROM. ctx must have a
// deadline (withDefaultTimeout): it bounds every step, including the
// writes and reads go-mail does later on the same connection.
func (c *Channel) dial(ctx context.Context) (*session, error) {
	addr := c.opts.addr()
	deadline, _ := ctx.Deadline()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, sessionError(ctx, "connect", addr, err)
	}
	bc := &boundedConn{Conn: raw, limit: deadline}
	_ = bc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, bc.expire)
	fail := func(step string, err error) (*session, error) {
		stop()
		_ = bc.Close()
		return nil, sessionError(ctx, step, addr, err)
	}

	var conn net.Conn = bc
	if c.opts.TLS == TLSSSL {
		tc := tls.Client(bc, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail("TLS handshake", err)
		}
		conn = tc
	}
	// NewClient reads the greeting; Host is the name PLAIN auth checks.
	client, err := smtp.NewClient(conn, c.opts.Host)
	if err != nil {
		return fail("greeting", err)
	}
	s := &session{client: client, conn: bc, stop: stop}
	step, err := c.handshake(client)
	if err != nil {
		_ = client.Close()
		return fail(step, err)
	}
	return s, nil
}

// handshake runs EHLO, STARTTLS per policy and AUTH; it names the step
// that failed.
func (c *Channel) handshake(client *smtp.Client) (string, error) {
	if err := client.Hello(c.opts.HELO); err != nil {
		return "EHLO", err
	}
	if c.opts.TLS == TLSMandatory || c.opts.TLS == TLSOpportunistic {
		offered, _ := client.Extension("STARTTLS")
		switch {
		case offered:
			// StartTLS also repeats EHLO over TLS, as RFC 3207 requires:
			// what the server said in plain text cannot be trusted.
			if err := client.StartTLS(c.tls); err != nil {
				return "STARTTLS", err
			}
		case c.opts.TLS == TLSMandatory:
			return "STARTTLS", errNoStartTLS
		}
	}
	if c.opts.Username == "" {
		return "", nil
	}
	auth, err := c.auth(client)
	if err != nil {
		return "AUTH", err
	}
	if err := client.Auth(auth); err != nil {
		return "AUTH", err
	}
	return "", nil
}

// auth picks the SASL mechanism. go-mail's own auto-discovery
// (SMTPAuthAutoDiscover) lives inside its Client's dial, which we do not
// use, so "auto" here follows the same order: SCRAM-SHA-256, CRAM-MD5,
// PLAIN, LOGIN, the strongest the server offers. Like go-mail, PLAIN and
// LOGIN (the password in clear text) are only chosen over TLS; unlike it,
// tls: none allows them too, since the operator chose plain text.
func (c *Channel) auth(client *smtp.Client) (smtp.Auth, error) {
	ok, list := client.Extension("AUTH")
	if !ok {
		return nil, errNoAuth
	}
	offered := map[string]bool{}
	for _, m := range strings.Fields(list) {
		offered[strings.ToLower(m)] = true
	}
	_, encrypted := client.TLSConnectionState()
	clearOK := encrypted || c.opts.TLS == TLSNone

	mech := c.opts.Auth
	if mech == AuthAuto {
		mech = ""
		for _, m := range []string{AuthSCRAMSHA256, AuthCRAMMD5, AuthPlain, AuthLogin} {
			if offered[m] && (clearOK || (m != AuthPlain && m != AuthLogin)) {
				mech = m
				break
			}
		}
		if mech == "" {
			if offered[AuthPlain] || offered[AuthLogin] {
				return nil, errPlaintextPwd
			}
			return nil, errNoMechanism
		}
	}
	if !offered[mech] {
		return nil, errMechanism
	}
	if (mech == AuthPlain || mech == AuthLogin) && !clearOK {
		return nil, errPlaintextPwd
	}
	user, pass, host := c.opts.Username, c.opts.Password.Reveal(), c.opts.Host
	switch mech {
	case AuthPlain:
		// allowUnenc: clearOK above already made the decision.
		return smtp.PlainAuth("", user, pass, host, true), nil
	case AuthLogin:
		return smtp.LoginAuth(user, pass, host, true), nil
	case AuthCRAMMD5:
		return smtp.CRAMMD5Auth(user, pass), nil
	default: // AuthSCRAMSHA256; normalize allows nothing else
		return smtp.ScramSHA256Auth(user, pass), nil
	}
}

// boundedConn keeps every deadline on the connection at or before ctx's:
// go-mail extends deadlines as it goes (by its own timeout, from "now"),
// which would otherwise outlive the caller's ctx. When ctx ends early,
// expire moves the bound into the past, which also fails any read or
// write in progress at once.
type boundedConn struct {
	net.Conn
	mu    sync.Mutex
	limit time.Time
}

func (c *boundedConn) bound(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.IsZero() || t.After(c.limit) {
		return c.limit
	}
	return t
}

func (c *boundedConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.bound(t)) }
func (c *boundedConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.bound(t))
}
func (c *boundedConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.bound(t))
}

func (c *boundedConn) expire() {
	c.mu.Lock()
	c.limit = time.Unix(1, 0)
	c.mu.Unlock()
	_ = c.Conn.SetDeadline(time.Unix(1, 0))
}
