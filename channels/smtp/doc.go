// Package smtp is the "smtp" channel type: email through one SMTP server
// (a provider's submission port or an own relay), built on
// github.com/wneessen/go-mail. Its kind is always email.
//
//	email:
//	  type: smtp
//	  host: smtp.example.com          # required
//	  port: 587                       # default 587; 465 with tls: ssl
//	  username: "${SMTP_USER}"        # username and password: both or neither
//	  password: "${SMTP_PASS}"        # a config.Secret: never printed
//	  auth: auto                      # plain, login, cram-md5, scram-sha-256, auto (default with a username)
//	  from: "Alerts <alerts@example.com>"  # required, RFC 5322, display name allowed
//	  reply_to: support@example.com   # optional
//	  tls: mandatory                  # mandatory (default), opportunistic, ssl, none
//	  tls_skip_verify: false          # tests only: accepts any certificate
//	  helo: gw1.example.com           # default: this machine's host name
//	  endpoint: 127.0.0.1:2525        # optional: connect here instead of host:port
//
// host is always the server's name: the name its certificate must carry
// and the name PLAIN authentication is bound to. endpoint, for tests and
// proxies, only changes where the connection goes; port must then be unset.
// tls_skip_verify exists for tests against self-signed certificates; in
// production it lets anyone on the path read the password.
//
// # TLS policies
//
//   - mandatory: STARTTLS (RFC 3207) is required. A server that does not
//     offer it fails the attempt before credentials or the message are sent.
//   - opportunistic: STARTTLS when offered, plain text otherwise.
//   - ssl: implicit TLS from the first byte (RFC 8314, port 465).
//   - none: never encrypt.
//
// auth: auto picks the strongest mechanism the server offers, in go-mail's
// auto-discovery order: SCRAM-SHA-256, CRAM-MD5, PLAIN, LOGIN. PLAIN and
// LOGIN put the password on the wire as is, so auto (or an explicit plain
// or login) uses them only over TLS, or with tls: none, where the operator
// has chosen plain text.
//
// # Sending
//
// Each Send is one SMTP session: connect, EHLO, STARTTLS per policy, AUTH
// if configured, MAIL, RCPT, DATA, QUIT. The message has From, To,
// Reply-To, Subject (the message's, or the body's first non-blank line cut
// to 78 characters), a text/plain body with a text/html alternative when
// the message has HTML, X-Switchboard-Message-Id (the message id) and a
// Message-ID of ours, <switchboard-ID@from-domain>, which is also
// Result.ProviderID so bounces can be matched to it. SMTP has no delivery
// receipts: Result.Delivered stays false, and Result.Info says which server
// accepted it and its reply ("queued as ...").
//
// The caller's ctx bounds the whole session, every read and write
// included; without a deadline, one minute does.
//
// # Probe
//
// Probe opens a session exactly as Send does (connect, EHLO, STARTTLS per
// policy, AUTH if configured), then sends NOOP and QUIT. It proves the
// server answers, the TLS policy holds and the credentials work, and
// sends no message. The steps are done with go-mail's smtp package (its
// net/smtp fork) rather than go-mail's Client.DialWithContext, so that
// every failure is known by the step it happened in: see session.go.
//
// # Errors
//
// Every error is a *channels.Error; SMTP reply codes are in Error.Code
// ("550"). The password never appears in an error.
//
//	while opening the session (no message sent yet):
//	  connection refused, timeout, reset, DNS failure  transient
//	  no such host (NXDOMAIN)                          misconfigured
//	  certificate does not verify, not TLS, TLS alert  misconfigured
//	  tls: mandatory and no STARTTLS offered           misconfigured
//	  AUTH not offered, no usable mechanism            misconfigured
//	  4xx reply (421 busy, 454 TLS/auth unavailable)   transient
//	  5xx reply (535 bad credentials, 554 at greeting) misconfigured
//	while sending (go-mail's *mail.SendError):
//	  4xx reply at MAIL, RCPT or after the message     transient
//	  530 (authentication required)                    misconfigured
//	  5xx at MAIL FROM (sender refused)                misconfigured
//	  5xx at RCPT or after the message (550, 552, 554) permanent
//	  no reply before the message's final "."          transient
//	  no reply after the final "." (timeout, reset)    ambiguous
//	  a bad recipient address (checked before dialing) permanent
//
// Misconfigured failures are those retrying cannot fix: the breaker counts
// them and routing tries the next channel at once. A connection that breaks
// before the final "." is safe to retry, since a server must discard an
// unfinished transaction (RFC 5321 section 3.8); after it, the server may
// have queued the message, and a retry may deliver it twice.
package smtp
