package smtp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer is a small SMTP server (RFC 5321, with STARTTLS per RFC 3207
// and AUTH PLAIN, LOGIN and CRAM-MD5 per RFC 4954 and 2195) for what maildev cannot be told to
// do: fail a given command with a given reply, stall, refuse STARTTLS.
type fakeServer struct {
	addr string
	cfg  fakeConfig
	ln   net.Listener
	done chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	received []fakeMail
	conns    []net.Conn
}

type fakeConfig struct {
	// greeting replaces "220 fake.test ESMTP".
	greeting string
	// startTLS offers STARTTLS with a self-signed certificate; implicitTLS
	// speaks TLS from the first byte.
	startTLS, implicitTLS bool
	// auth is the AUTH mechanisms offered ("PLAIN LOGIN"); user and pass
	// are the credentials accepted.
	auth       string
	user, pass string
	// reply overrides the reply to a command: "MAIL", "RCPT", "DATA" (the
	// command), "." (after the message), "NOOP".
	reply map[string]string
	// stall lists commands (same names) the server never answers.
	stall map[string]bool
}

// fakeMail is one message the server accepted.
type fakeMail struct {
	from, to string
	data     string
	tls      bool // the session was encrypted
	authUser string
}

func startFake(t *testing.T, cfg fakeConfig) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.implicitTLS {
		ln = tls.NewListener(ln, serverTLS())
	}
	s := &fakeServer{addr: ln.Addr().String(), cfg: cfg, ln: ln, done: make(chan struct{})}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) close() {
	close(s.done)
	_ = s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *fakeServer) mails() []fakeMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]fakeMail(nil), s.received...)
}

func (s *fakeServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.session(c)
		}()
	}
}

func (s *fakeServer) session(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	_, encrypted := c.(*tls.Conn)
	tp := textproto.NewConn(c)
	send := func(line string) bool { return tp.PrintfLine("%s", line) == nil }
	// answer sends the configured reply for cmd, or def; false ends the session.
	answer := func(cmd, def string) (string, bool) {
		if s.cfg.stall[cmd] {
			<-s.done
			return "", false
		}
		r := def
		if x, ok := s.cfg.reply[cmd]; ok {
			r = x
		}
		return r, send(r)
	}
	greeting := "220 fake.test ESMTP"
	if s.cfg.greeting != "" {
		greeting = s.cfg.greeting
	}
	if !send(greeting) || !strings.HasPrefix(greeting, "2") {
		return
	}
	var m fakeMail
	var authUser string
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			ext := []string{"fake.test greets " + arg, "8BITMIME", "ENHANCEDSTATUSCODES"}
			if s.cfg.startTLS && !encrypted {
				ext = append(ext, "STARTTLS")
			}
			if s.cfg.auth != "" && authUser == "" {
				ext = append(ext, "AUTH "+s.cfg.auth)
			}
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				if !send("250" + sep + e) {
					return
				}
			}
		case "HELO":
			send("250 fake.test")
		case "STARTTLS":
			if !s.cfg.startTLS || encrypted {
				send("502 5.5.1 STARTTLS not available")
				continue
			}
			if !send("220 2.0.0 go ahead") {
				return
			}
			tc := tls.Server(c, serverTLS())
			if tc.Handshake() != nil {
				return
			}
			c, encrypted = tc, true
			tp = textproto.NewConn(c)
			m, authUser = fakeMail{}, "" // RFC 3207: forget everything
		case "AUTH":
			user, pass, ok := s.authExchange(tp, arg)
			switch {
			case !ok:
				return
			case user == s.cfg.user && pass == s.cfg.pass:
				authUser = user
				send("235 2.7.0 Authentication successful")
			default:
				send("535 5.7.8 Authentication credentials invalid")
			}
		case "MAIL":
			m = fakeMail{from: arg, tls: encrypted, authUser: authUser}
			if r, ok := answer("MAIL", "250 2.1.0 OK"); !ok || !strings.HasPrefix(r, "2") {
				m = fakeMail{}
			}
		case "RCPT":
			if r, ok := answer("RCPT", "250 2.1.5 OK"); ok && strings.HasPrefix(r, "2") {
				m.to = arg
			}
		case "DATA":
			r, ok := answer("DATA", "354 go ahead")
			if !ok {
				return
			}
			if !strings.HasPrefix(r, "3") {
				continue
			}
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			if r, ok := answer(".", "250 2.0.0 OK queued as FAKE1"); !ok {
				return
			} else if strings.HasPrefix(r, "2") {
				m.data = string(data)
				s.mu.Lock()
				s.received = append(s.received, m)
				s.mu.Unlock()
			}
			m = fakeMail{}
		case "RSET":
			m = fakeMail{}
			send("250 2.0.0 OK")
		case "NOOP":
			if _, ok := answer("NOOP", "250 2.0.0 OK"); !ok {
				return
			}
		case "QUIT":
			send("221 2.0.0 bye")
			return
		default:
			send("502 5.5.2 command not recognized")
		}
	}
}

// authExchange reads AUTH PLAIN or LOGIN credentials.
func (s *fakeServer) authExchange(tp *textproto.Conn, arg string) (user, pass string, ok bool) {
	mech, initial, _ := strings.Cut(arg, " ")
	read := func(prompt string) (string, bool) {
		if tp.PrintfLine("334 %s", prompt) != nil {
			return "", false
		}
		l, err := tp.ReadLine()
		if err != nil {
			return "", false
		}
		b, _ := base64.StdEncoding.DecodeString(l)
		return string(b), true
	}
	switch strings.ToUpper(mech) {
	case "PLAIN":
		var resp string
		if initial != "" {
			b, _ := base64.StdEncoding.DecodeString(initial)
			resp = string(b)
		} else if resp, ok = read(""); !ok {
			return "", "", false
		}
		parts := strings.Split(resp, "\x00")
		if len(parts) != 3 {
			return "", "", true
		}
		return parts[1], parts[2], true
	case "CRAM-MD5":
		const challenge = "<1896.697170952@fake.test>"
		resp, ok := read(base64.StdEncoding.EncodeToString([]byte(challenge)))
		if !ok {
			return "", "", false
		}
		user, digest, _ := strings.Cut(resp, " ")
		mac := hmac.New(md5.New, []byte(s.cfg.pass))
		mac.Write([]byte(challenge))
		if hex.EncodeToString(mac.Sum(nil)) != digest {
			return user, "", true // a wrong password, as far as the caller can tell
		}
		return user, s.cfg.pass, true
	case "LOGIN":
		if user, ok = read(base64.StdEncoding.EncodeToString([]byte("Username:"))); !ok {
			return "", "", false
		}
		if pass, ok = read(base64.StdEncoding.EncodeToString([]byte("Password:"))); !ok {
			return "", "", false
		}
		return user, pass, true
	}
	return "", "", tp.PrintfLine("504 5.5.4 unrecognized authentication type") == nil
}

// serverTLS is a self-signed certificate for 127.0.0.1, made once.
var serverTLS = sync.OnceValue(func() *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fake.test"},
		DNSNames:     []string{"fake.test", "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
})
