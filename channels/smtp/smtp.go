package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
)

const (
	// defaultTimeout bounds a send or probe whose ctx has no deadline, so
	// a server that stops answering cannot hold a worker forever.
	// Routing normally sets the channel's send_timeout on ctx.
	defaultTimeout = time.Minute
	// maxSubject is the length of a subject made from the body: RFC 5322's
	// recommended line length.
	maxSubject = 78
	// headerMessageID is our own id on every message, so a bounce or a
	// support search can be traced back to the Switchboard message.
	headerMessageID gomail.Header = "X-Switchboard-Message-Id"
)

var _ channels.Channel = (*Channel)(nil)

func init() {
	channels.Register("smtp", build)
}

func build(cfg *config.Channel, _ channels.Deps) (channels.Channel, error) {
	prefix := "channels." + cfg.Name
	var errs config.Errors
	if cfg.Kind != "" && cfg.Kind != string(channels.Email) {
		errs = append(errs, &config.Error{File: cfg.File, Line: cfg.Line, Key: prefix + ".kind",
			Msg: fmt.Sprintf("type smtp delivers email: kind must be email or left out, got %q", cfg.Kind)})
	}
	var opts Options
	if err := cfg.DecodeOptions(&opts); err != nil {
		var decodeErrs config.Errors
		if !errors.As(err, &decodeErrs) {
			return nil, err
		}
		errs = append(errs, decodeErrs...)
	}
	// Validate even after decode errors, so one "config validate" shows
	// every problem; but a key that failed to decode is left empty, and
	// saying it is missing as well would be noise.
	failed := map[string]bool{}
	for _, e := range errs {
		failed[e.Key] = true
	}
	opts, problems := opts.normalize()
	for _, p := range problems {
		if failed[prefix+"."+p.key] {
			continue
		}
		key := prefix
		if !p.missing {
			key += "." + p.key
		}
		errs = append(errs, &config.Error{File: cfg.File, Line: optionLineFor(cfg, p.key, p.missing),
			Key: key, Msg: p.err.Error()})
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *config.Error) int { return a.Line - b.Line })
		return nil, errs
	}
	return newChannel(cfg.Name, opts)
}

// Channel sends email through one SMTP server (a submission port or a
// relay). It holds no connection between sends, so it is safe for
// concurrent use and needs no Close.
type Channel struct {
	name    string
	opts    Options // normalized
	from    *mail.Address
	replyTo *mail.Address
	domain  string // of From, for Message-IDs
	tls     *tls.Config
	// sender writes messages over connections this package opened: see
	// the top of session.go for why go-mail's own dialing is not used.
	sender *gomail.Client
}

// New builds an SMTP channel from options decoded in code; the YAML path
// goes through the registered factory. Defaults are filled as there.
func New(name string, opts Options) (*Channel, error) {
	opts, problems := opts.normalize()
	if len(problems) > 0 {
		p := problems[0]
		if p.missing {
			return nil, p.err
		}
		return nil, fmt.Errorf("%s: %w", p.key, p.err)
	}
	return newChannel(name, opts)
}

func newChannel(name string, opts Options) (*Channel, error) {
	from, err := mail.ParseAddress(opts.From)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	c := &Channel{
		name: name,
		opts: opts,
		from: from,
		tls: &tls.Config{
			ServerName:         opts.Host,
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: opts.TLSSkipVerify, //nolint:gosec // opt-in, documented as tests only
		},
	}
	if opts.ReplyTo != "" {
		if c.replyTo, err = mail.ParseAddress(opts.ReplyTo); err != nil {
			return nil, fmt.Errorf("reply_to: %w", err)
		}
	}
	c.domain = messageIDDomain(from.Address, opts.HELO)
	// The sender never dials: dial does. WithoutRset: we QUIT after the one
	// message, and an RSET failing after the server accepted it would turn
	// a success into an error. WithoutNoop: the session was just checked
	// by EHLO/AUTH. The timeout only matters as go-mail's deadline
	// extension, which boundedConn clamps to ctx's deadline anyway.
	c.sender, err = gomail.NewClient(opts.Host, gomail.WithoutRset(), gomail.WithoutNoop(),
		gomail.WithTimeout(defaultTimeout), gomail.WithHELO(opts.HELO))
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return c, nil
}

func (c *Channel) Name() string        { return c.name }
func (c *Channel) Kind() channels.Kind { return channels.Email }

// Options returns the normalized options (defaults filled in).
func (c *Channel) Options() Options { return c.opts }

// Send delivers m in one SMTP session: connect, EHLO, STARTTLS per policy,
// AUTH if configured, MAIL, RCPT, DATA, QUIT. Acceptance is all SMTP can
// report, so Result.Delivered stays false.
func (c *Channel) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	msg, err := c.compose(m)
	if err != nil {
		return channels.Result{}, &channels.Error{Class: channels.Permanent, Err: err}
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()

	s, err := c.dial(ctx)
	if err != nil {
		return channels.Result{}, err
	}
	defer s.close()
	if err := c.sender.SendWithSMTPClient(s.client, msg); err != nil {
		return channels.Result{}, sendError(ctx, c.opts.addr(), err)
	}
	s.quit()

	info := "accepted by " + c.opts.addr()
	if r := strings.TrimSpace(msg.ServerResponse()); r != "" {
		info += ": " + truncate(r, 120)
	}
	return channels.Result{ProviderID: msg.GetMessageID(), Info: info}, nil
}

// Probe opens a session as Send would (connect, EHLO, STARTTLS per policy,
// AUTH if configured), then NOOP and QUIT: it proves the server, the TLS
// policy and the credentials work, and sends no message.
func (c *Channel) Probe(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	s, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.client.Noop(); err != nil {
		return sessionError(ctx, "NOOP", c.opts.addr(), err)
	}
	s.quit()
	return nil
}

// compose builds the message. Its errors are about the message itself
// (a bad recipient address), so they are permanent.
func (c *Channel) compose(m *channels.Message) (*gomail.Msg, error) {
	if m.To == "" {
		return nil, errors.New("smtp: message has no email recipient")
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(c.from)
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("smtp: recipient: %w", err)
	}
	if c.replyTo != nil {
		msg.ReplyToMailAddress(c.replyTo)
	}
	subject := m.Subject
	if subject == "" {
		subject = subjectFromBody(m.Body)
	}
	msg.Subject(oneLine(subject))
	msg.SetMessageIDWithValue("switchboard-" + msgIDPart(m.ID) + "@" + c.domain)
	msg.SetGenHeader(headerMessageID, oneLine(m.ID))
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Body)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// subjectFromBody is the body's first non-blank line, cut to maxSubject
// characters.
func subjectFromBody(body string) string {
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if utf8.RuneCountInString(line) > maxSubject {
			line = string([]rune(line)[:maxSubject])
		}
		return line
	}
	return ""
}

// oneLine keeps header values on one line: a CR or LF in a value would
// otherwise let a message's text add headers.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
}

// msgIDPart makes a Switchboard id safe for the left side of a Message-ID
// (RFC 5322 atext). Our ids (UUIDs) pass unchanged; the exact id is in
// X-Switchboard-Message-Id either way.
func msgIDPart(id string) string {
	if id == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		case strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r):
			return r
		}
		return '-'
	}, id)
}

// messageIDDomain is From's domain, the usual right side of a Message-ID.
// An internationalized domain cannot go in the header as is, so the HELO
// name stands in for it.
func messageIDDomain(addr, helo string) string {
	domain := addr[strings.LastIndexByte(addr, '@')+1:]
	for _, r := range domain {
		if r >= utf8.RuneSelf || r <= ' ' || r == '>' || r == '<' {
			return helo
		}
	}
	return domain
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, defaultTimeout)
}
