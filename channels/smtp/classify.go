package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/switchboard-gw/switchboard/channels"
)

// sessionError classifies a failure while opening a session (connect, TLS,
// greeting, EHLO, STARTTLS, AUTH) or probing it. No message has been sent
// yet, so nothing here is ambiguous: the question is only whether the
// server is having a bad moment (transient) or the channel's configuration
// does not fit it (misconfigured: retrying cannot help, the breaker should
// count it and the next channel be tried at once).
func sessionError(ctx context.Context, step, addr string, err error) error {
	class := channels.Transient
	code := ""
	var reply *textproto.Error
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &reply):
		// A reply at session level is about us, not about a message:
		// 4xx (421 busy, 454 TLS or auth temporarily unavailable) passes,
		// 5xx (535 bad credentials, 534 mechanism too weak, 530/538
		// encryption or auth required, 554 no service for us) does not.
		code = strconv.Itoa(reply.Code)
		if reply.Code >= 500 {
			class = channels.Misconfigured
		}
	case errors.Is(err, errNoStartTLS), errors.Is(err, errNoAuth), errors.Is(err, errNoMechanism),
		errors.Is(err, errMechanism), errors.Is(err, errPlaintextPwd),
		errors.Is(err, smtp.ErrUnencrypted), errors.Is(err, smtp.ErrWrongHostname):
		// The TLS policy or auth settings do not match what the server
		// offers. A server does not grow STARTTLS between retries, and
		// falling back to plain text would defeat the policy (and could
		// be a downgrade attack stripping STARTTLS), so this is the
		// channel's configuration, not a passing failure.
		class = channels.Misconfigured
	case tlsMismatch(err):
		class = channels.Misconfigured
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		// No such host (NXDOMAIN) is a typo far more often than an
		// outage; resolver timeouts and SERVFAIL stay transient.
		class = channels.Misconfigured
	}
	return &channels.Error{Class: class, Code: code, Err: fmt.Errorf("smtp %s %s: %w", step, addr, withCause(ctx, err))}
}

// tlsMismatch reports TLS failures that retrying cannot fix: the
// certificate does not verify (unknown CA, wrong name, expired), the server
// does not speak TLS where we expect it (tls: ssl against a plain port), or
// it sent an alert (no common version or cipher). A reset or timeout during
// the handshake is not among them.
func tlsMismatch(err error) bool {
	var verify *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var header tls.RecordHeaderError
	var alert tls.AlertError
	return errors.As(err, &verify) || errors.As(err, &unknownCA) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &header) || errors.As(err, &alert)
}

// sendError classifies a failure of go-mail's SendWithSMTPClient, which
// reports a *gomail.SendError naming the command that failed and, if the
// server replied, its code.
func sendError(ctx context.Context, addr string, err error) error {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return &channels.Error{Class: channels.Transient, Err: fmt.Errorf("smtp send via %s: %w", addr, withCause(ctx, err))}
	}
	class, code := sendClass(se)
	return &channels.Error{Class: class, Code: code, Err: fmt.Errorf("smtp send via %s: %w", addr, withCause(ctx, err))}
}

func sendClass(se *gomail.SendError) (channels.Class, string) {
	if n := se.ErrorCode(); n != 0 {
		code := strconv.Itoa(n)
		switch {
		case se.IsTemp() || n < 500:
			// 421, 450, 451, 452: try again later (RFC 5321 4.2.1).
			return channels.Transient, code
		case n == 530:
			// Authentication required: no username configured, or the
			// server wants it for this sender.
			return channels.Misconfigured, code
		case se.Reason == gomail.ErrSMTPMailFrom:
			// The sender was refused (not allowed to send as From,
			// blocked): every message through this channel would fail,
			// so it should count against the breaker.
			return channels.Misconfigured, code
		default:
			// 550 no such mailbox, 552 too big, 553 bad address, 554
			// rejected content: this message will not go this way.
			return channels.Permanent, code
		}
	}
	// No reply: the connection broke or timed out (or ctx ended).
	switch se.Reason {
	case gomail.ErrSMTPDataClose:
		// The message and its final "." were written and the reply was
		// lost. The server may well have queued it: retrying may send it
		// twice (RFC 1047).
		return channels.Ambiguous, ""
	case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
		// The message could not be put on the wire at all.
		return channels.Permanent, ""
	default:
		// MAIL, RCPT, DATA or the content itself failed before the final
		// ".": a server must discard a transaction that was not completed
		// (RFC 5321 3.8, 4.1.1.4), so retrying is safe.
		return channels.Transient, ""
	}
}

// withCause says so when the caller's ctx ended the attempt: the error
// from the connection is then just "i/o timeout".
func withCause(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		return fmt.Errorf("%w (%v)", err, cause)
	}
	return err
}
