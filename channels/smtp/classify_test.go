package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/switchboard-gw/switchboard/channels"
)

// Failures the fake server cannot easily produce (DNS, certificate kinds),
// and go-mail's reply-less send errors, classified directly. Replies with
// codes are covered end to end in smtp_test.go.
func TestSessionErrorClasses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want channels.Class
		code string
	}{
		{"no such host", &net.DNSError{Err: "no such host", Name: "smtp.exmaple.com", IsNotFound: true}, channels.Misconfigured, ""},
		{"resolver timeout", &net.DNSError{Err: "i/o timeout", Name: "smtp.example.com", IsTimeout: true}, channels.Transient, ""},
		{"refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", errors.New("connection refused"))}, channels.Transient, ""},
		{"dial timeout", &net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}, channels.Transient, ""},
		{"reset during handshake", fmt.Errorf("remote error: %w", io.EOF), channels.Transient, ""},
		{"unknown CA", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, channels.Misconfigured, ""},
		{"wrong host name", x509.HostnameError{Host: "smtp.example.com", Certificate: &x509.Certificate{}}, channels.Misconfigured, ""},
		{"expired", x509.CertificateInvalidError{Reason: x509.Expired, Cert: &x509.Certificate{}}, channels.Misconfigured, ""},
		{"TLS alert", tls.AlertError(40), channels.Misconfigured, ""},
		{"not TLS", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, channels.Misconfigured, ""},
		{"421 busy", &textproto.Error{Code: 421, Msg: "try later"}, channels.Transient, "421"},
		{"454 TLS not available", &textproto.Error{Code: 454, Msg: "TLS not available"}, channels.Transient, "454"},
		{"535 bad credentials", fmt.Errorf("auth: %w", &textproto.Error{Code: 535, Msg: "bad"}), channels.Misconfigured, "535"},
		{"538 encryption required", &textproto.Error{Code: 538, Msg: "encryption required"}, channels.Misconfigured, "538"},
		{"no STARTTLS", errNoStartTLS, channels.Misconfigured, ""},
		{"go-mail refuses clear text", smtp.ErrUnencrypted, channels.Misconfigured, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := sessionError(context.Background(), "connect", "smtp.example.com:587", tt.err)
			var ce *channels.Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tt.want, ce.Class, "%v", err)
			require.Equal(t, tt.code, ce.Code)
			require.ErrorIs(t, err, tt.err)
		})
	}
}

func TestSendErrorWithoutReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reason gomail.SendErrReason
		want   channels.Class
	}{
		{gomail.ErrSMTPMailFrom, channels.Transient},
		{gomail.ErrSMTPRcptTo, channels.Transient},
		{gomail.ErrSMTPData, channels.Transient},
		{gomail.ErrWriteContent, channels.Transient},
		{gomail.ErrConnCheck, channels.Transient},
		{gomail.ErrSMTPDataClose, channels.Ambiguous},
		{gomail.ErrGetRcpts, channels.Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.reason.String(), func(t *testing.T) {
			t.Parallel()
			// SendWithSMTPClient joins per-message errors.
			err := sendError(context.Background(), "smtp.example.com:587", errors.Join(&gomail.SendError{Reason: tt.reason}))
			require.Equal(t, tt.want, channels.ClassOf(err), "%v", err)
		})
	}
	require.Equal(t, channels.Transient, channels.ClassOf(sendError(context.Background(), "a:1", io.EOF)))
}

func TestSubjectFromBody(t *testing.T) {
	t.Parallel()
	long := "ÄÖÜ " + "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890"
	for body, want := range map[string]string{
		"":                        "",
		"\n\n  hello  \nworld":    "hello",
		"one line":                "one line",
		long:                      string([]rune(long)[:78]),
		"multi\r\nline with CRLF": "multi",
	} {
		require.Equal(t, want, subjectFromBody(body), "%q", body)
	}
	require.Equal(t, "a b c", oneLine("a\r\nb\nc"))
	require.Equal(t, "id-with-spaces-and--brackets-", msgIDPart("id with spaces and <brackets>"))
	require.Equal(t, "example.com", messageIDDomain("a@example.com", "h"))
	require.Equal(t, "h", messageIDDomain("a@bücher.example", "h"))
}
