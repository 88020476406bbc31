package telegram

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/switchboard-gw/switchboard/config"
)

// DefaultEndpoint is the public Bot API.
const DefaultEndpoint = "https://api.telegram.org"

// Parse modes. The body is escaped for the mode, so it always arrives as
// the literal text it was; the mode only decides how Telegram parses it.
const (
	ParseModePlain      = ""
	ParseModeMarkdownV2 = tgbotapi.ModeMarkdownV2
	ParseModeHTML       = tgbotapi.ModeHTML
)

// Options are the telegram channel's type-specific YAML keys.
type Options struct {
	// Token is the bot token from @BotFather, "<bot id>:<secret>".
	Token config.Secret `yaml:"token"`
	// ParseMode is "" (plain text), "MarkdownV2" or "HTML".
	ParseMode string `yaml:"parse_mode"`
	// DisableNotification delivers messages silently.
	DisableNotification bool `yaml:"disable_notification"`
	// Endpoint is the Bot API's base URL, for self-hosted Bot API servers,
	// proxies and tests; methods are called at <endpoint>/bot<token>/<method>.
	Endpoint string `yaml:"endpoint"`
	// WebhookSecret is the secret_token given to setWebhook: Telegram
	// sends it in X-Telegram-Bot-Api-Secret-Token on every update, and
	// the gateway refuses updates without it. Unset: updates are refused.
	WebhookSecret config.Secret `yaml:"webhook_secret"`
}

// DefaultOptions are the values used for keys the YAML leaves out.
func DefaultOptions() Options {
	return Options{Endpoint: DefaultEndpoint}
}

// tokenShape is what @BotFather issues: the bot's numeric id, a colon and
// a URL-safe secret. Checking it here also guarantees the token can sit in
// a URL path unescaped, so building a request URL never fails (a failure
// there would quote the URL, token included).
var tokenShape = regexp.MustCompile(`^[0-9]+:[A-Za-z0-9_-]+$`)

// secretShape is what setWebhook accepts as secret_token.
var secretShape = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// problem is one invalid option, named by its YAML key so the factory can
// point at the line.
type problem struct {
	key string
	msg string
}

func (o *Options) validate() []problem {
	var ps []problem
	switch {
	case o.Token == "":
		ps = append(ps, problem{"token", "required: the bot token from @BotFather, e.g. token: ${TELEGRAM_TOKEN}"})
	case !tokenShape.MatchString(o.Token.Reveal()):
		// Never quote the value: it is a secret, or close to one.
		ps = append(ps, problem{"token", "does not look like a bot token: want <bot id>:<secret> (digits, a colon, then letters, digits, _ or -)"})
	}
	switch o.ParseMode {
	case ParseModePlain, ParseModeMarkdownV2, ParseModeHTML:
	default:
		ps = append(ps, problem{"parse_mode", fmt.Sprintf("unknown parse mode %q (want MarkdownV2 or HTML, or leave it out for plain text)", o.ParseMode)})
	}
	if o.WebhookSecret != "" && !secretShape.MatchString(o.WebhookSecret.Reveal()) {
		ps = append(ps, problem{"webhook_secret", "must be 1 to 256 characters, letters, digits, _ or - (what setWebhook's secret_token allows)"})
	}
	if _, err := apiEndpoint(o.Endpoint); err != nil {
		ps = append(ps, problem{"endpoint", err.Error()})
	}
	return ps
}

// apiEndpoint turns the endpoint option into tgbotapi's format string
// ("https://host/bot%s/%s"). A path prefix is kept, for proxies that mount
// the Bot API under one.
func apiEndpoint(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	switch {
	case endpoint == "":
		return "", fmt.Errorf("must not be empty (leave it out for %s)", DefaultEndpoint)
	case err != nil:
		return "", fmt.Errorf("bad URL %q: want e.g. %s", endpoint, DefaultEndpoint)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("bad URL %q: the scheme must be http or https", endpoint)
	case u.Host == "":
		return "", fmt.Errorf("bad URL %q: no host", endpoint)
	case u.User != nil:
		// Error texts quote request URLs; credentials there would leak.
		return "", fmt.Errorf("bad URL: credentials in the URL are not supported")
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(endpoint, "?") || strings.HasSuffix(endpoint, "#"):
		return "", fmt.Errorf("bad URL %q: no query or fragment: methods are called at <endpoint>/bot<token>/<method>", endpoint)
	}
	base := strings.TrimRight(endpoint, "/")
	// The result is a format string: a literal % (from a percent-encoded
	// path) must be doubled.
	return strings.ReplaceAll(base, "%", "%%") + "/bot%s/%s", nil
}
