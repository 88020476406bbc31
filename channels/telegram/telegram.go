package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
)

var (
	_ channels.Channel = (*Channel)(nil)
	_ channels.Closer  = (*Channel)(nil)
)

// backstopTimeout bounds one HTTP exchange when the caller's ctx has no
// deadline: a connection that hangs must not pin a worker forever. Routing
// normally passes a shorter send_timeout.
const backstopTimeout = 2 * time.Minute

func init() {
	channels.Register("telegram", build, channels.WebhookProvider(WebhookProvider))
}

func build(cfg *config.Channel, deps channels.Deps) (channels.Channel, error) {
	var errs config.Errors
	if cfg.Kind != "" && cfg.Kind != string(channels.Telegram) {
		errs = append(errs, &config.Error{File: cfg.File, Line: cfg.Line, Key: "channels." + cfg.Name + ".kind",
			Msg: fmt.Sprintf("type telegram delivers to kind telegram, not %q (kind may be left out)", cfg.Kind)})
	}
	opts := DefaultOptions()
	if err := cfg.DecodeOptions(&opts); err != nil {
		var des config.Errors
		if !errors.As(err, &des) {
			return nil, err
		}
		errs = append(errs, des...)
	}
	// Validate even after decode errors: a key that failed to decode keeps
	// its valid default, so every problem reported is real, and one run of
	// "config validate" shows them all.
	for _, p := range opts.validate() {
		errs = append(errs, &config.Error{File: cfg.File, Line: cfg.OptionLine(p.key),
			Key: "channels." + cfg.Name + "." + p.key, Msg: p.msg})
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *config.Error) int { return a.Line - b.Line })
		return nil, errs
	}
	return New(cfg.Name, opts, deps)
}

// Channel is one Telegram bot. It is safe for concurrent use.
type Channel struct {
	name     string
	opts     Options
	token    string
	endpoint string // tgbotapi's format string, "<base>/bot%s/%s"
	client   *http.Client
	logger   *slog.Logger
}

// New builds a telegram channel from already-decoded options; the YAML path
// goes through the registered factory. It does no network I/O.
func New(name string, opts Options, deps channels.Deps) (*Channel, error) {
	if ps := opts.validate(); len(ps) > 0 {
		return nil, fmt.Errorf("%s: %s", ps[0].key, ps[0].msg)
	}
	endpoint, err := apiEndpoint(opts.Endpoint)
	if err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	return &Channel{
		name:     name,
		opts:     opts,
		token:    opts.Token.Reveal(),
		endpoint: endpoint,
		// A transport of its own: Close can drop its idle connections when
		// a reload replaces the channel, without touching anyone else's.
		client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: backstopTimeout},
		logger: deps.Logger,
	}, nil
}

func (c *Channel) Name() string        { return c.name }
func (c *Channel) Kind() channels.Kind { return channels.Telegram }

// Close drops idle connections to the Bot API.
func (c *Channel) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

// usernameShape is a public chat's @username; Telegram checks the rest.
var usernameShape = regexp.MustCompile(`^@[A-Za-z0-9_]+$`)

// chatOf parses a recipient: a numeric chat id (negative for groups and
// channels) or "@channelusername". key is the recipient as ProviderID shows
// it when Telegram's answer does not name the chat.
func chatOf(to string) (chat tgbotapi.BaseChat, key string, err error) {
	if usernameShape.MatchString(to) {
		return tgbotapi.BaseChat{ChannelUsername: to}, to, nil
	}
	if id, err := strconv.ParseInt(to, 10, 64); err == nil && id != 0 {
		return tgbotapi.BaseChat{ChatID: id}, strconv.FormatInt(id, 10), nil
	}
	return chat, "", fmt.Errorf("telegram: recipient %q is not a chat id (e.g. 123456789 or -1001234567890) or an @channelusername", to)
}

// Send makes one sendMessage call.
func (c *Channel) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	chat, chatKey, err := chatOf(m.To)
	if err != nil {
		return channels.Result{}, channels.Classify(channels.Permanent, err)
	}
	if err := checkBody(m.Body); err != nil {
		return channels.Result{}, channels.Classify(channels.Permanent, err)
	}
	chat.DisableNotification = c.opts.DisableNotification
	msg := tgbotapi.MessageConfig{
		BaseChat:  chat,
		Text:      EscapeText(c.opts.ParseMode, m.Body),
		ParseMode: c.opts.ParseMode,
	}
	resp, err := c.call(ctx, "sendMessage", func(bot *tgbotapi.BotAPI) (*tgbotapi.APIResponse, error) {
		return bot.Request(msg)
	})
	if err != nil {
		return channels.Result{}, err
	}
	info := fmt.Sprintf("%d characters, %s", TextLength(m.Body), modeName(c.opts.ParseMode))
	var sent tgbotapi.Message
	if err := json.Unmarshal(resp.Result, &sent); err != nil || sent.MessageID == 0 {
		// Telegram said ok, so the message is in the chat: an error now
		// would have routing send it again. Succeed without an id.
		c.logger.Warn("telegram accepted a message but its answer has no message id", "channel", c.name, "chat", chatKey)
		return channels.Result{Info: info + "; the answer had no message id", Delivered: true}, nil
	}
	// Prefer the numeric id Telegram answers with: an @username can be
	// renamed, and message ids are only unique within one chat.
	if sent.Chat != nil && sent.Chat.ID != 0 {
		chatKey = strconv.FormatInt(sent.Chat.ID, 10)
	}
	return channels.Result{
		ProviderID: chatKey + ":" + strconv.Itoa(sent.MessageID),
		Info:       info,
		// sendMessage answers with the message as stored in the chat, and
		// bots get no delivery receipts: acceptance is delivery.
		Delivered: true,
	}, nil
}

// checkBody rejects, without a call, bodies Telegram would refuse with 400.
func checkBody(body string) error {
	switch n := TextLength(body); {
	case strings.TrimSpace(body) == "":
		return errors.New("telegram: body is empty")
	case !utf8.ValidString(body):
		return errors.New("telegram: body is not valid UTF-8")
	case n > MaxTextLength:
		return fmt.Errorf("telegram: body has %d characters; the limit is %d", n, MaxTextLength)
	}
	return nil
}

func modeName(mode string) string {
	if mode == ParseModePlain {
		return "plain text"
	}
	return mode
}

// Probe calls getMe: it checks the token and that the Bot API answers, and
// sends nothing. A rejected token is Misconfigured; any other failure is
// Transient (a probe has no message to duplicate, so never Ambiguous, and
// no send to delay, so never RateLimited).
func (c *Channel) Probe(ctx context.Context) error {
	_, err := c.call(ctx, "getMe", func(bot *tgbotapi.BotAPI) (*tgbotapi.APIResponse, error) {
		return bot.MakeRequest("getMe", nil)
	})
	var ce *channels.Error
	if errors.As(err, &ce) && ce.Class != channels.Misconfigured && ce.Class != channels.Transient {
		return &channels.Error{Class: channels.Transient, Code: ce.Code, Err: ce.Err}
	}
	return err
}
