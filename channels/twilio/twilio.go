package twilio

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	twiliogo "github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/senders"
	"github.com/switchboard-gw/switchboard/config"
)

// MaxBodyChars is Twilio's limit on a message body (error 21617).
const MaxBodyChars = 1600

// WebhookProvider names Twilio's status callbacks in the gateway's webhook
// route (channels.WebhookPrefix): both channel types declare it at
// Register, and the channel's name goes in the "channel" query parameter.
const WebhookProvider = "twilio"

// WebhookPath is the gateway's route for Twilio status callbacks.
const WebhookPath = channels.WebhookPrefix + WebhookProvider

var (
	_ channels.Channel         = (*Channel)(nil)
	_ channels.Closer          = (*Channel)(nil)
	_ channels.WebhookReceiver = (*Channel)(nil)
)

// Channel is one Twilio account sending SMS or WhatsApp messages.
type Channel struct {
	name       string
	kind       channels.Kind
	accountSID string
	authToken  config.Secret
	from       string // normalized; "" when a messaging service picks it
	serviceSID string
	senders    senders.Map // by destination country, normalized; nil: from or serviceSID
	content    *content    // nil: messages go as Body
	endpoint   *url.URL    // nil: Twilio's own
	callback   string      // StatusCallback URL; "" without a public URL
	transport  *http.Transport
	validator  client.RequestValidator
	log        *slog.Logger
}

// New builds a channel from options already decoded; kind must be
// channels.SMS or channels.WhatsApp. It starts no network activity.
func New(name string, kind channels.Kind, opts Options, deps channels.Deps) (*Channel, error) {
	if kind != channels.SMS && kind != channels.WhatsApp {
		return nil, fmt.Errorf("twilio: kind %q is not sms or whatsapp", kind)
	}
	if ps := opts.validate(kind); len(ps) > 0 {
		errs := make([]error, len(ps))
		for i, p := range ps {
			if p.key == "" {
				errs[i] = errors.New(p.msg)
			} else {
				errs[i] = fmt.Errorf("%s: %s", p.key, p.msg)
			}
		}
		return nil, errors.Join(errs...)
	}
	c := &Channel{
		name:       name,
		kind:       kind,
		accountSID: opts.AccountSID,
		authToken:  opts.AuthToken,
		serviceSID: opts.MessagingServiceSID,
		transport:  newTransport(),
		validator:  client.NewRequestValidator(opts.AuthToken.Reveal()),
		log:        deps.Logger,
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if opts.From != "" {
		c.from, _ = normalizeFrom(kind, opts.From) // validated above
	}
	if opts.Senders != nil {
		c.senders = make(senders.Map, len(opts.Senders))
		for country, v := range opts.Senders {
			c.senders[country], _ = normalizeSender(kind, v) // validated above
		}
	}
	if opts.Endpoint != "" {
		c.endpoint, _ = parseEndpoint(opts.Endpoint) // validated above
	}
	if opts.ContentSID != "" {
		c.content = newContent(opts.ContentSID, opts.ContentVariables) // validated above
	}
	if deps.PublicURL != "" {
		u, err := url.Parse(deps.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("twilio: public URL %q is not an absolute http(s) URL", deps.PublicURL)
		}
		c.callback = channels.WebhookURL(deps.PublicURL, WebhookProvider, name)
	}
	return c, nil
}

// Name is the channel's name in the config.
func (c *Channel) Name() string { return c.name }

// Kind is channels.SMS or channels.WhatsApp.
func (c *Channel) Kind() channels.Kind { return c.kind }

// StatusCallback is the URL sent with every message for delivery reports,
// or "" when the gateway has no public URL.
func (c *Channel) StatusCallback() string { return c.callback }

// Close drops pooled idle connections.
func (c *Channel) Close() error {
	c.transport.CloseIdleConnections()
	return nil
}

// api returns twilio-go's API service for one call bounded by ctx; see call.
func (c *Channel) api(ctx context.Context) (*openapi.ApiService, *call) {
	rt := &call{ctx: ctx, next: c.transport, endpoint: c.endpoint}
	tc := &client.Client{
		Credentials: client.NewCredentials(c.accountSID, c.authToken.Reveal()),
		HTTPClient:  &http.Client{Transport: rt, CheckRedirect: noRedirect},
	}
	tc.SetAccountSid(c.accountSID)
	rc := twiliogo.NewRestClientWithParams(twiliogo.ClientParams{Client: tc})
	// The config decides where calls go, not TWILIO_EDGE/TWILIO_REGION,
	// which NewRestClientWithParams reads from the environment.
	rc.SetEdge("")
	rc.SetRegion("")
	return rc.Api, rt
}

// Send makes one Create Message call: with the configured content
// template and its variables, or else with m's body.
func (c *Channel) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	const op = "create message"
	to := strings.TrimSpace(m.To)
	if to == "" {
		return channels.Result{}, permanent(op, "no recipient address")
	}
	if c.kind == channels.WhatsApp && !strings.HasPrefix(to, whatsappPrefix) {
		to = whatsappPrefix + to
	}
	from, err := c.senderFor(to)
	if err != nil {
		return channels.Result{}, fmt.Errorf("twilio: %s: %w", op, err)
	}
	params := (&openapi.CreateMessageParams{}).SetTo(to)
	if c.content != nil {
		// The template replaces Body; the body goes only as a variable,
		// if one takes it.
		vars, err := c.content.variables(m)
		if err != nil {
			return channels.Result{}, permanent(op, err.Error())
		}
		params.SetContentSid(c.content.sid)
		if vars != "" {
			params.SetContentVariables(vars)
		}
	} else {
		if m.Body == "" {
			return channels.Result{}, permanent(op, "empty body")
		}
		if n := utf8.RuneCountInString(m.Body); n > MaxBodyChars {
			return channels.Result{}, permanent(op, fmt.Sprintf("body is %d characters, over Twilio's limit of %d", n, MaxBodyChars))
		}
		params.SetBody(m.Body)
	}
	if from.from != "" {
		params.SetFrom(from.from)
	} else {
		params.SetMessagingServiceSid(from.service)
	}
	if c.callback != "" {
		params.SetStatusCallback(c.callback)
	}

	ctx, cancel := context.WithTimeout(ctx, maxCallTime)
	defer cancel()
	api, rt := c.api(ctx)
	msg, err := api.CreateMessage(params)
	if err != nil {
		return channels.Result{Sender: from.String()}, c.classify(op, err, rt)
	}
	if err := redirected(op, rt); err != nil {
		return channels.Result{Sender: from.String()}, err
	}
	if msg.Sid == nil || *msg.Sid == "" {
		// Twilio answered 2xx, so it probably took the message.
		return channels.Result{Sender: from.String()}, &channels.Error{Class: channels.Ambiguous,
			Err: errors.New("twilio: create message: accepted without a message SID")}
	}
	res := channels.Result{ProviderID: *msg.Sid, Sender: from.String()}
	switch {
	case c.content != nil:
		res.Info = "template " + c.content.sid
	case c.kind == channels.SMS:
		segs := CountSegments(m.Body)
		res.Info, res.Segments = segs.String(), segs.Count
	}
	// Usually null at this point (see price.go); a price that does not
	// parse is logged and left out, never a failed send.
	if p, err := parsePrice(deref(msg.Price), deref(msg.PriceUnit)); err != nil {
		c.log.Warn("twilio price not understood", "channel", c.name, "sid", res.ProviderID, "err", err)
	} else {
		res.Price = p
	}
	return res, nil
}

// Probe fetches the account: it costs no message and proves the endpoint,
// the credentials and the account's standing.
func (c *Channel) Probe(ctx context.Context) error {
	const op = "fetch account"
	ctx, cancel := context.WithTimeout(ctx, maxCallTime)
	defer cancel()
	api, rt := c.api(ctx)
	acct, err := api.FetchAccount(c.accountSID)
	if err != nil {
		err = c.classify(op, err, rt)
		// A GET has no side effects: an answer lost is just a failure.
		var ce *channels.Error
		if errors.As(err, &ce) && ce.Class == channels.Ambiguous {
			ce.Class = channels.Transient
		}
		return err
	}
	if err := redirected(op, rt); err != nil {
		return err
	}
	if acct.Status != nil && *acct.Status != "active" {
		return &channels.Error{Class: channels.Misconfigured,
			Err: fmt.Errorf("twilio: %s: account is %s", op, *acct.Status)}
	}
	return nil
}

func permanent(op, why string) error {
	return &channels.Error{Class: channels.Permanent, Err: fmt.Errorf("twilio: %s: %s", op, why)}
}

// codeInfo says what one of Twilio's error codes means for routing.
type codeInfo struct {
	class channels.Class
	what  string
}

// codes refines HTTPClass with Twilio's error codes
// (https://www.twilio.com/docs/api/errors). A code not listed here falls
// back to its HTTP status.
var codes = map[int]codeInfo{
	20003: {channels.Misconfigured, "authentication failed: check account_sid and auth_token"},
	20005: {channels.Misconfigured, "account not active"},
	20404: {channels.Misconfigured, "not found: check account_sid and endpoint"},
	20429: {channels.RateLimited, "too many requests"},
	21211: {channels.Permanent, "invalid 'To' phone number"},
	21212: {channels.Misconfigured, "invalid 'From' number"},
	21408: {channels.Permanent, "permission to send to this region is not enabled"},
	21606: {channels.Misconfigured, "'From' is not a message-capable number of this account"},
	21610: {channels.Permanent, "recipient unsubscribed (replied STOP)"}, // codeUnsubscribed
	21614: {channels.Permanent, "'To' is not a mobile number"},
	21617: {channels.Permanent, "body too long"},
	63007: {channels.Misconfigured, "no WhatsApp sender for 'From' on this account"},
	63016: {channels.Permanent, "outside the WhatsApp 24-hour window: only a template may be sent"},
	63024: {channels.Permanent, "invalid WhatsApp recipient"},
	// The channel's content template (content_sid, content_variables) is
	// wrong or unusable: every message would fail the same way. Twilio maps
	// WhatsApp's 2000 (parameter count) to 63028 and 2001/2003 (no such
	// template) to 63027.
	63027: {channels.Misconfigured, "WhatsApp template not found for this language: check content_sid"},
	63028: {channels.Misconfigured, "template parameters do not match: check content_variables"},
	63054: {channels.Misconfigured, "WhatsApp template unavailable for use"},
}

// codeUnsubscribed is "Attempt to send to unsubscribed recipient": the
// person replied STOP. The error says so (channels.ErrOptedOut), and
// routing puts them on the suppression list.
const codeUnsubscribed = 21610

// restError is Twilio's error answer with a message of our own: twilio-go's
// text is long and repeats itself. errors.As still finds the original.
type restError struct {
	msg  string
	rest *client.TwilioRestError
}

func (e *restError) Error() string { return e.msg }
func (e *restError) Unwrap() error { return e.rest }

// classify turns a twilio-go error into a *channels.Error.
func (c *Channel) classify(op string, err error, rt *call) error {
	status, header := rt.response()
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		class := httpClass(status)
		what := fmt.Sprintf("HTTP %d", status)
		switch info, ok := codes[te.Code]; {
		case status == 0:
			// No answer came: twilio-go refused the credentials before
			// sending (they must be letters and digits).
			class, what = channels.Misconfigured, "refused by twilio-go before sending"
		case ok:
			class, what = info.class, info.what
		case class == "":
			class = channels.Transient
		}
		detail := c.redact(te.Message)
		if detail == "" {
			detail = http.StatusText(status)
		}
		msg := fmt.Sprintf("twilio: %s: %s", op, what)
		if detail != "" {
			msg += ": " + detail
		}
		ce := &channels.Error{Class: class, Err: &restError{msg: msg, rest: te},
			OptedOut: te.Code == codeUnsubscribed}
		if te.Code != 0 {
			ce.Code = fmt.Sprint(te.Code)
		}
		if class == channels.RateLimited {
			ce.RetryAfter = channels.ParseRetryAfter(header.Get("Retry-After"), time.Now())
		}
		return ce
	}
	if rerr := redirected(op, rt); rerr != nil {
		return rerr
	}
	switch {
	case status >= 400:
		// An answer twilio-go could not decode: a proxy's or load
		// balancer's HTML page, an empty 503.
		class := httpClass(status)
		ce := &channels.Error{Class: class,
			Err: fmt.Errorf("twilio: %s: HTTP %d %s", op, status, http.StatusText(status))}
		if class == channels.RateLimited {
			ce.RetryAfter = channels.ParseRetryAfter(header.Get("Retry-After"), time.Now())
		}
		return ce
	case status >= 200 && status < 300:
		// Twilio said yes but the body was lost or garbled.
		return &channels.Error{Class: channels.Ambiguous,
			Err: fmt.Errorf("twilio: %s: HTTP %d but the answer could not be read: %w", op, status, err)}
	}
	return channels.TransportError("twilio: "+op, err, rt.wrote.Wrote())
}

// httpClass is channels.HTTPClass with two refinements for an API at a
// configured endpoint: a 404 (no such account or path) and a redirect (a
// proxy or a wrong scheme) mean the endpoint or account is wrong, not the
// message.
func httpClass(status int) channels.Class {
	if status == http.StatusNotFound || (status >= 300 && status < 400) {
		return channels.Misconfigured
	}
	return channels.HTTPClass(status)
}

// redirected reports a 3xx answer that twilio-go took for success.
func redirected(op string, rt *call) error {
	status, header := rt.response()
	if status < 300 || status >= 400 {
		return nil
	}
	return &channels.Error{Class: channels.Misconfigured,
		Err: fmt.Errorf("twilio: %s: HTTP %d redirect to %q: check endpoint", op, status, header.Get("Location"))}
}

// redact removes the auth token, and the Basic credentials made from it,
// from provider text that ends up in errors. Twilio has no reason to echo
// them; a proxy in between might.
func (c *Channel) redact(s string) string {
	tok := c.authToken.Reveal()
	if tok == "" || s == "" {
		return s
	}
	basic := base64.StdEncoding.EncodeToString([]byte(c.accountSID + ":" + tok))
	s = strings.ReplaceAll(s, basic, "<redacted>")
	return strings.ReplaceAll(s, tok, "<redacted>")
}
