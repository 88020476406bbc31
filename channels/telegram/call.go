package telegram

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/switchboard-gw/switchboard/channels"
)

// Why a BotAPI per call: tgbotapi builds its requests without a context
// (http.NewRequest) and NewBotAPI* calls getMe before returning, which a
// factory used by `config validate` must not do. Its BotAPI is a plain
// struct whose Token and Client are exported and whose endpoint has a
// setter, so a call builds one around an exchange: an HTTPClient (the
// library's own interface) that puts the caller's ctx and a WriteTracker on
// the request and notes the HTTP status. The library still builds the
// request and parses the answer; every exchange honours its own ctx, and
// concurrent calls share nothing but the http.Client. (Only the update
// poller needs the fields NewBotAPI sets beyond these, and a channel never
// polls.)

// exchange is one Bot API call's view of the HTTP layer.
type exchange struct {
	ctx    context.Context
	client *http.Client
	token  string
	wrote  channels.WriteTracker

	// Set when a response arrived; read after the library returns, on the
	// same goroutine.
	status     int
	retryAfter string
}

// Do implements tgbotapi.HTTPClient.
func (x *exchange) Do(req *http.Request) (*http.Response, error) {
	resp, err := x.client.Do(req.WithContext(x.wrote.Context(x.ctx)))
	if err != nil {
		// *url.Error quotes the request URL, and the token is in its path.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = &url.Error{Op: ue.Op, URL: redact(ue.URL, x.token), Err: ue.Err}
		}
		return nil, err
	}
	x.status = resp.StatusCode
	x.retryAfter = resp.Header.Get("Retry-After")
	return resp, nil
}

const redacted = "<redacted>"

func redact(s, token string) string { return strings.ReplaceAll(s, token, redacted) }

// call runs one Bot API method through a BotAPI built for this exchange and
// classifies its failure.
func (c *Channel) call(ctx context.Context, method string, f func(*tgbotapi.BotAPI) (*tgbotapi.APIResponse, error)) (*tgbotapi.APIResponse, error) {
	x := &exchange{ctx: ctx, client: c.client, token: c.token}
	bot := &tgbotapi.BotAPI{Token: c.token, Client: x}
	bot.SetAPIEndpoint(c.endpoint)
	resp, err := f(bot)
	if err == nil {
		return resp, nil
	}
	return nil, c.scrubbed(classify(method, x, err))
}

// classify maps a failed exchange to a channel error class.
func classify(method string, x *exchange, err error) *channels.Error {
	op := "telegram: " + method
	var apiErr *tgbotapi.Error
	switch {
	case errors.As(err, &apiErr):
		return apiError(op, x, apiErr)
	case x.status == 0:
		// No response: refused, reset, timed out, or cancelled. Whether
		// the provider may have acted on it depends on whether the request
		// was written.
		var ce *channels.Error
		errors.As(channels.TransportError(op, err, x.wrote.Wrote()), &ce)
		return ce
	case x.status >= 200 && x.status < 300:
		// Telegram answered but the answer was lost (cut off, or not the
		// Bot API's JSON): the message may have been sent.
		return &channels.Error{Class: channels.Ambiguous, Code: strconv.Itoa(x.status),
			Err: fmt.Errorf("%s: HTTP %d but the answer could not be read: %w", op, x.status, err)}
	default:
		// Not the Bot API's JSON: a proxy or load balancer answered.
		class := channels.HTTPClass(x.status)
		if x.status == http.StatusNotFound {
			class = channels.Misconfigured // no Bot API at this endpoint
		} else if class == "" {
			class = channels.Transient
		}
		return &channels.Error{Class: class, Code: strconv.Itoa(x.status),
			RetryAfter: channels.ParseRetryAfter(x.retryAfter, time.Now()),
			Err:        fmt.Errorf("%s: HTTP %d with an unreadable answer: %w", op, x.status, err)}
	}
}

// apiError classifies the Bot API's own error answer,
// {"ok":false,"error_code":N,"description":"...","parameters":{...}}.
func apiError(op string, x *exchange, e *tgbotapi.Error) *channels.Error {
	code := e.Code
	if code == 0 {
		code = x.status // a stand-in that answered ok:false without a code
	}
	ce := &channels.Error{Class: codeClass(code), Code: strconv.Itoa(code), OptedOut: blockedByUser(code, e.Message)}
	desc := e.Message
	if desc == "" {
		desc = fmt.Sprintf("HTTP %d %s", x.status, http.StatusText(x.status))
	}
	switch ce.Class {
	case channels.RateLimited:
		ce.RetryAfter = time.Duration(e.RetryAfter) * time.Second
		if ce.RetryAfter <= 0 {
			ce.RetryAfter = channels.ParseRetryAfter(x.retryAfter, time.Now())
		}
	case channels.Misconfigured:
		desc += " (check the channel's token and endpoint)"
	}
	if e.MigrateToChatID != 0 {
		desc += fmt.Sprintf(" (the group is now supergroup %d: send to that chat id)", e.MigrateToChatID)
	}
	ce.Err = fmt.Errorf("%s: %w", op, describedError{desc, e})
	return ce
}

// describedError is the Bot API's error with a description completed for
// people, still unwrapping to *tgbotapi.Error for errors.As.
type describedError struct {
	desc string
	err  *tgbotapi.Error
}

func (d describedError) Error() string { return d.desc }
func (d describedError) Unwrap() error { return d.err }

// blockedByUser reports the Bot API's answer to a send to a user who
// blocked the bot: 403 "Forbidden: bot was blocked by the user". The Bot
// API has no finer code than 403 (which also means kicked from a group, or
// never started), so its description tells them apart, here and only here.
func blockedByUser(code int, desc string) bool {
	return code == http.StatusForbidden && strings.Contains(strings.ToLower(desc), "bot was blocked by the user")
}

// codeClass maps the Bot API's error_code. It differs from
// channels.HTTPClass in two places, both from Telegram's own meanings:
// 403 is about the recipient (the user blocked the bot, the bot was kicked
// from the group, a bot cannot start a conversation), so Permanent for
// this message rather than Misconfigured; and 404 is what the Bot API
// answers for a malformed token or a wrong endpoint, so Misconfigured.
func codeClass(code int) channels.Class {
	switch code {
	case http.StatusForbidden:
		return channels.Permanent
	case http.StatusNotFound:
		return channels.Misconfigured
	}
	if class := channels.HTTPClass(code); class != "" {
		return class
	}
	return channels.Transient
}

// scrubbed is the last guard against leaking the token: a description
// echoing the request path, an error quoting the URL. If the text holds the
// token, the cause chain is replaced by its redacted text.
func (c *Channel) scrubbed(ce *channels.Error) *channels.Error {
	if text := ce.Err.Error(); strings.Contains(text, c.token) {
		ce.Err = errors.New(redact(text, c.token))
	}
	return ce
}
