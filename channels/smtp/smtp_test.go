package smtp_test

import (
	"context"
	"encoding/base64"
	"net"
	"net/mail"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/channeltest"
	"github.com/switchboard-gw/switchboard/channels/smtp"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/internal/testpeers"
)

func TestMain(m *testing.M) { os.Exit(testpeers.Main(m)) }

const (
	testUser = "sb-user"
	testPass = "hunter2-s3cret-pass"
	testFrom = "Switchboard Alerts <alerts@example.com>"
)

// secrets are what no error may contain: the password and the AUTH PLAIN
// response that carries it.
var secrets = []string{testPass, base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPass))}

// newSMTP builds a channel to endpoint; opts fills in From and Host.
func newSMTP(t *testing.T, endpoint string, opts smtp.Options) *smtp.Channel {
	t.Helper()
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.From == "" {
		opts.From = testFrom
	}
	opts.Endpoint = endpoint
	ch, err := smtp.New("email", opts)
	require.NoError(t, err)
	return ch
}

func message(id string) *channels.Message {
	return &channels.Message{ID: id, To: "ana@example.com", Subject: "Your code", Body: "Your code is 123456"}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// closedAddr is a 127.0.0.1 address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestSendComposesMessage(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fakeConfig{})
	ch := newSMTP(t, srv.addr, smtp.Options{TLS: smtp.TLSNone, ReplyTo: "support@example.com"})
	m := &channels.Message{ID: "msg-1", To: "Ana <ana@example.com>",
		Body: "\n  Your sign-in code is 123456 and it expires in ten minutes, so please use it soon.\nsecond line"}
	res, err := ch.Send(ctxTimeout(t, 5*time.Second), m)
	require.NoError(t, err)
	require.Equal(t, "<switchboard-msg-1@example.com>", res.ProviderID)
	require.False(t, res.Delivered, "SMTP acceptance is not delivery")
	require.Equal(t, "accepted by "+srv.addr+": 2.0.0 OK queued as FAKE1", res.Info)

	got := srv.mails()
	require.Len(t, got, 1)
	require.Equal(t, "FROM:<alerts@example.com>", strings.Fields(got[0].from)[0])
	require.Equal(t, "TO:<ana@example.com>", got[0].to)
	data := got[0].data
	msg, err := mail.ReadMessage(strings.NewReader(data))
	require.NoError(t, err)
	for key, want := range map[string]string{
		"Message-Id":               "<switchboard-msg-1@example.com>",
		"X-Switchboard-Message-Id": "msg-1",
		"From":                     `"Switchboard Alerts" <alerts@example.com>`,
		"To":                       `"Ana" <ana@example.com>`,
		"Reply-To":                 "<support@example.com>",
		// The first non-blank line, cut to 78 characters.
		"Subject":      "Your sign-in code is 123456 and it expires in ten minutes, so please use it so",
		"Content-Type": "text/plain; charset=UTF-8",
	} {
		require.Equal(t, want, msg.Header.Get(key), key)
	}
	require.NotContains(t, data, "text/html")
}

func TestSendRejectsBadRecipientBeforeConnecting(t *testing.T) {
	t.Parallel()
	ch := newSMTP(t, closedAddr(t), smtp.Options{TLS: smtp.TLSNone})
	for _, to := range []string{"", "not an address", "a@example.com, b@example.com"} {
		m := message("m1")
		m.To = to
		_, err := ch.Send(t.Context(), m)
		channeltest.RequireClass(t, channels.Permanent, err)
	}
}

func TestSendTLSPolicies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		server  fakeConfig
		opts    smtp.Options
		wantTLS bool
	}{
		{"none", fakeConfig{startTLS: true}, smtp.Options{TLS: smtp.TLSNone}, false},
		{"opportunistic without STARTTLS", fakeConfig{}, smtp.Options{TLS: smtp.TLSOpportunistic}, false},
		{"opportunistic with STARTTLS", fakeConfig{startTLS: true},
			smtp.Options{TLS: smtp.TLSOpportunistic, TLSSkipVerify: true}, true},
		{"mandatory", fakeConfig{startTLS: true}, smtp.Options{TLSSkipVerify: true}, true},
		{"ssl", fakeConfig{implicitTLS: true}, smtp.Options{TLS: smtp.TLSSSL, TLSSkipVerify: true}, true},
		{"mandatory with auth auto picks PLAIN over TLS",
			fakeConfig{startTLS: true, auth: "LOGIN PLAIN", user: testUser, pass: testPass},
			smtp.Options{TLSSkipVerify: true, Username: testUser, Password: testPass}, true},
		{"opportunistic without TLS: auto picks CRAM-MD5, never PLAIN",
			fakeConfig{auth: "PLAIN LOGIN CRAM-MD5", user: testUser, pass: testPass},
			smtp.Options{TLS: smtp.TLSOpportunistic, Username: testUser, Password: testPass}, false},
		{"none with auth login",
			fakeConfig{auth: "LOGIN PLAIN", user: testUser, pass: testPass},
			smtp.Options{TLS: smtp.TLSNone, Username: testUser, Password: testPass, Auth: smtp.AuthLogin}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startFake(t, tt.server)
			ch := newSMTP(t, srv.addr, tt.opts)
			_, err := ch.Send(ctxTimeout(t, 5*time.Second), message("m1"))
			require.NoError(t, err)
			got := srv.mails()
			require.Len(t, got, 1)
			require.Equal(t, tt.wantTLS, got[0].tls)
			if tt.opts.Username != "" {
				require.Equal(t, testUser, got[0].authUser)
			}
			require.NoError(t, ch.Probe(ctxTimeout(t, 5*time.Second)))
		})
	}
}

// Every failure an SMTP server can cause, with the class routing acts on.
func TestSendClassifiesFailures(t *testing.T) {
	t.Parallel()
	none := smtp.Options{TLS: smtp.TLSNone}
	withAuth := func(o smtp.Options, pass string) smtp.Options {
		o.Username, o.Password = testUser, config.Secret(pass)
		return o
	}
	tests := []struct {
		name      string
		server    fakeConfig
		opts      smtp.Options
		endpoint  string // instead of the fake server's
		timeout   time.Duration
		wantClass channels.Class
		wantCode  string
		wantText  string
	}{
		{name: "connection refused", endpoint: "closed", opts: none, wantClass: channels.Transient},
		{name: "421 at greeting", server: fakeConfig{greeting: "421 4.3.2 try later"}, opts: none,
			wantClass: channels.Transient, wantCode: "421"},
		{name: "554 at greeting", server: fakeConfig{greeting: "554 5.7.1 no service for you"}, opts: none,
			wantClass: channels.Misconfigured, wantCode: "554"},
		{name: "421 at RCPT", server: fakeConfig{reply: map[string]string{"RCPT": "421 4.4.5 too busy"}}, opts: none,
			wantClass: channels.Transient, wantCode: "421"},
		{name: "451 at RCPT", server: fakeConfig{reply: map[string]string{"RCPT": "451 4.3.0 local error"}}, opts: none,
			wantClass: channels.Transient, wantCode: "451"},
		{name: "550 at RCPT", server: fakeConfig{reply: map[string]string{"RCPT": "550 5.1.1 mailbox unavailable"}},
			opts: none, wantClass: channels.Permanent, wantCode: "550", wantText: "5.1.1 mailbox unavailable"},
		{name: "552 after the message", server: fakeConfig{reply: map[string]string{".": "552 5.3.4 message too big"}},
			opts: none, wantClass: channels.Permanent, wantCode: "552"},
		{name: "554 after the message", server: fakeConfig{reply: map[string]string{".": "554 5.7.1 spam"}},
			opts: none, wantClass: channels.Permanent, wantCode: "554"},
		{name: "451 after the message", server: fakeConfig{reply: map[string]string{".": "451 4.7.1 greylisted"}},
			opts: none, wantClass: channels.Transient, wantCode: "451"},
		{name: "550 at MAIL FROM: the sender is refused",
			server: fakeConfig{reply: map[string]string{"MAIL": "550 5.7.1 not allowed to send as alerts@example.com"}},
			opts:   none, wantClass: channels.Misconfigured, wantCode: "550"},
		{name: "530 auth required at MAIL FROM",
			server: fakeConfig{reply: map[string]string{"MAIL": "530 5.7.0 authentication required"}},
			opts:   none, wantClass: channels.Misconfigured, wantCode: "530"},
		{name: "stall after the message: it may have been queued", server: fakeConfig{stall: map[string]bool{".": true}},
			opts: none, timeout: 300 * time.Millisecond, wantClass: channels.Ambiguous},
		{name: "stall at the DATA command: nothing was sent", server: fakeConfig{stall: map[string]bool{"DATA": true}},
			opts: none, timeout: 300 * time.Millisecond, wantClass: channels.Transient},
		{name: "stall at RCPT", server: fakeConfig{stall: map[string]bool{"RCPT": true}},
			opts: none, timeout: 300 * time.Millisecond, wantClass: channels.Transient},
		{name: "mandatory TLS, no STARTTLS offered", server: fakeConfig{}, opts: smtp.Options{},
			wantClass: channels.Misconfigured, wantText: "does not offer STARTTLS"},
		{name: "mandatory TLS, certificate does not verify", server: fakeConfig{startTLS: true}, opts: smtp.Options{},
			wantClass: channels.Misconfigured, wantText: "certificate"},
		{name: "ssl against a plain text server", server: fakeConfig{},
			opts: smtp.Options{TLS: smtp.TLSSSL, TLSSkipVerify: true}, wantClass: channels.Misconfigured},
		{name: "wrong password", server: fakeConfig{auth: "PLAIN LOGIN", user: testUser, pass: "other"},
			opts: withAuth(none, testPass), wantClass: channels.Misconfigured, wantCode: "535"},
		{name: "wrong password over STARTTLS", server: fakeConfig{startTLS: true, auth: "PLAIN", user: testUser, pass: "other"},
			opts: withAuth(smtp.Options{TLSSkipVerify: true}, testPass), wantClass: channels.Misconfigured, wantCode: "535"},
		{name: "username set, server offers no AUTH", server: fakeConfig{},
			opts: withAuth(none, testPass), wantClass: channels.Misconfigured, wantText: "does not offer AUTH"},
		{name: "auto will not send the password in clear text",
			server:    fakeConfig{auth: "PLAIN LOGIN", user: testUser, pass: testPass},
			opts:      withAuth(smtp.Options{TLS: smtp.TLSOpportunistic}, testPass),
			wantClass: channels.Misconfigured, wantText: "clear text"},
		{name: "configured mechanism not offered",
			server: fakeConfig{auth: "LOGIN", user: testUser, pass: testPass},
			opts: func() smtp.Options {
				o := withAuth(none, testPass)
				o.Auth = smtp.AuthCRAMMD5
				return o
			}(),
			wantClass: channels.Misconfigured, wantText: "configured AUTH mechanism"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			endpoint := tt.endpoint
			switch endpoint {
			case "":
				endpoint = startFake(t, tt.server).addr
			case "closed":
				endpoint = closedAddr(t)
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			ch := newSMTP(t, endpoint, tt.opts)
			start := time.Now()
			_, err := ch.Send(ctxTimeout(t, timeout), message("m1"))
			require.Less(t, time.Since(start), timeout+2*time.Second, "Send must be bounded by ctx")
			channeltest.RequireClass(t, tt.wantClass, err)
			channeltest.RequireNoSecret(t, secrets, err)
			var ce *channels.Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tt.wantCode, ce.Code)
			if tt.wantText != "" {
				require.ErrorContains(t, err, tt.wantText)
			}

			// A probe fails the same way when the failure is in the session.
			perr := ch.Probe(ctxTimeout(t, timeout))
			channeltest.RequireNoSecret(t, secrets, perr)
		})
	}
}

func TestSendCancelledMidSession(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fakeConfig{stall: map[string]bool{".": true}})
	ch := newSMTP(t, srv.addr, smtp.Options{TLS: smtp.TLSNone})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := ch.Send(ctx, message("m1"))
	require.Less(t, time.Since(start), 3*time.Second)
	channeltest.RequireClass(t, channels.Ambiguous, err)
	require.ErrorContains(t, err, "context canceled")
}

func TestProbe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		server    fakeConfig
		opts      smtp.Options
		closed    bool
		wantClass channels.Class // "" means the probe passes
		wantCode  string
	}{
		{name: "ok", opts: smtp.Options{TLS: smtp.TLSNone}},
		{name: "ok with auth", server: fakeConfig{startTLS: true, auth: "PLAIN", user: testUser, pass: testPass},
			opts: smtp.Options{TLSSkipVerify: true, Username: testUser, Password: testPass}},
		{name: "closed port", closed: true, opts: smtp.Options{TLS: smtp.TLSNone}, wantClass: channels.Transient},
		{name: "NOOP refused for now", server: fakeConfig{reply: map[string]string{"NOOP": "421 4.3.2 shutting down"}},
			opts: smtp.Options{TLS: smtp.TLSNone}, wantClass: channels.Transient, wantCode: "421"},
		{name: "wrong password", server: fakeConfig{startTLS: true, auth: "PLAIN", user: testUser, pass: "other"},
			opts:      smtp.Options{TLSSkipVerify: true, Username: testUser, Password: testPass},
			wantClass: channels.Misconfigured, wantCode: "535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var srv *fakeServer
			endpoint := ""
			if tt.closed {
				endpoint = closedAddr(t)
			} else {
				srv = startFake(t, tt.server)
				endpoint = srv.addr
			}
			err := newSMTP(t, endpoint, tt.opts).Probe(ctxTimeout(t, 5*time.Second))
			if tt.wantClass == "" {
				require.NoError(t, err)
				require.Empty(t, srv.mails(), "a probe sends no message")
				return
			}
			channeltest.RequireClass(t, tt.wantClass, err)
			channeltest.RequireNoSecret(t, secrets, err)
			var ce *channels.Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tt.wantCode, ce.Code)
		})
	}
}
