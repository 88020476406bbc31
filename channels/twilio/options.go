package twilio

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
)

// Channel types this package registers.
const (
	TypeSMS      = "twilio-sms"
	TypeWhatsApp = "twilio-whatsapp"
)

// whatsappPrefix marks a WhatsApp address in Twilio's To and From.
const whatsappPrefix = "whatsapp:"

// Options are the Twilio channel types' YAML keys.
type Options struct {
	// AccountSID is the account the messages are sent from (AC + 32 hex).
	AccountSID string `yaml:"account_sid"`
	// AuthToken authenticates API calls and signs status callbacks.
	AuthToken config.Secret `yaml:"auth_token"`
	// From is the sender: for SMS an E.164 number, short code or
	// alphanumeric sender ID; for WhatsApp "whatsapp:+E164" (a bare +E164
	// is accepted and prefixed). Exactly one of From and
	// MessagingServiceSID is set.
	From string `yaml:"from"`
	// MessagingServiceSID lets Twilio pick the sender from the service's
	// pool (MG + 32 hex).
	MessagingServiceSID string `yaml:"messaging_service_sid"`
	// Senders, in place of From and MessagingServiceSID, picks the sender
	// by the destination's country (see senders.go): country code (or
	// "default") to a sender ID, an E.164 number, a short code or a
	// messaging service SID.
	Senders map[string]string `yaml:"senders"`
	// Endpoint replaces https://api.twilio.com (scheme, host and an
	// optional path prefix): a regional edge, an egress proxy, a mock.
	Endpoint string `yaml:"endpoint"`
	// ContentSID, for twilio-whatsapp, sends every message as this
	// approved Content Template (HX + 32 hex) instead of Body: WhatsApp
	// delivers free-form text only within 24 hours of the customer's last
	// message, and business-initiated messages (OTPs, order updates) must
	// be templates.
	ContentSID string `yaml:"content_sid"`
	// ContentVariables fill the template's variables: variable name ("1",
	// "2", ...) to where its value comes from, "body", "subject" or
	// "metadata.KEY" (the message's metadata value for KEY).
	ContentVariables map[string]string `yaml:"content_variables"`
}

var (
	accountSIDRe = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	serviceSIDRe = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	e164Re       = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	shortCodeRe  = regexp.MustCompile(`^[0-9]{3,8}$`)
	// An alphanumeric sender ID is up to 11 letters, digits and spaces
	// with at least one letter.
	alphaSenderRe = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
	hasLetterRe   = regexp.MustCompile(`[A-Za-z]`)
	alnumRe       = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	// contentSIDRe is the spec's pattern for ContentSid.
	contentSIDRe = regexp.MustCompile(`^HX[0-9a-fA-F]{32}$`)
	// Twilio's variable names are letters and digits ("1", "name"), at
	// most 16 characters; "_" as WhatsApp's named parameters use it.
	variableNameRe = regexp.MustCompile(`^[A-Za-z0-9_]{1,16}$`)
)

// maxContentVariables is Twilio's limit on variables per send.
const maxContentVariables = 100

// problem is one invalid option, named by its YAML key ("" for the
// channel itself) so the factory can point at its line.
type problem struct {
	key string
	msg string
}

// validate checks o for a channel of kind k. Values that may have come
// from the environment (the SID and the token) are never quoted.
func (o *Options) validate(k channels.Kind) []problem {
	var ps []problem
	switch {
	case o.AccountSID == "":
		ps = append(ps, problem{"account_sid", "required: the Twilio Account SID (AC followed by 32 hex digits)"})
	case !accountSIDRe.MatchString(o.AccountSID):
		ps = append(ps, problem{"account_sid", fmt.Sprintf("must be AC followed by 32 hex digits (got %d characters; value not shown)", len(o.AccountSID))})
	}
	switch tok := o.AuthToken.Reveal(); {
	case tok == "":
		ps = append(ps, problem{"auth_token", "required: the account's auth token (use ${TWILIO_AUTH_TOKEN})"})
	case !alnumRe.MatchString(tok):
		// twilio-go refuses such a token locally; say so at load time.
		ps = append(ps, problem{"auth_token", "must be letters and digits only, as Twilio auth tokens are (value not shown)"})
	}
	switch {
	case o.Senders != nil:
		ps = append(ps, o.validateSenders(k)...)
	case o.From != "" && o.MessagingServiceSID != "":
		ps = append(ps, problem{"messaging_service_sid", `set either "from" or "messaging_service_sid", not both`})
	case o.From == "" && o.MessagingServiceSID == "":
		ps = append(ps, problem{"", `missing required key "from" (or "messaging_service_sid", or "senders" by country)`})
	case o.From != "":
		if _, err := normalizeFrom(k, o.From); err != nil {
			ps = append(ps, problem{"from", err.Error()})
		}
	case !serviceSIDRe.MatchString(o.MessagingServiceSID):
		ps = append(ps, problem{"messaging_service_sid", fmt.Sprintf("must be MG followed by 32 hex digits, got %q", o.MessagingServiceSID)})
	}
	if o.Endpoint != "" {
		if _, err := parseEndpoint(o.Endpoint); err != nil {
			ps = append(ps, problem{"endpoint", err.Error()})
		}
	}
	return append(ps, o.validateContent(k)...)
}

// validateContent checks content_sid and content_variables.
func (o *Options) validateContent(k channels.Kind) []problem {
	var ps []problem
	switch {
	case o.ContentSID == "":
		if len(o.ContentVariables) > 0 {
			ps = append(ps, problem{"content_variables", `needs "content_sid": the variables fill that content template`})
		}
	case k != channels.WhatsApp:
		ps = append(ps, problem{"content_sid", fmt.Sprintf("content templates are sent by type %s only; %s sends the body", TypeWhatsApp, TypeSMS)})
	case !contentSIDRe.MatchString(o.ContentSID):
		ps = append(ps, problem{"content_sid", fmt.Sprintf("must be HX followed by 32 hex digits (the template's Content SID in the Twilio console's Content Template Builder), got %q", o.ContentSID)})
	}
	if len(o.ContentVariables) > maxContentVariables {
		ps = append(ps, problem{"content_variables", fmt.Sprintf("at most %d variables, got %d", maxContentVariables, len(o.ContentVariables))})
	}
	for _, name := range slices.Sorted(maps.Keys(o.ContentVariables)) {
		if !variableNameRe.MatchString(name) {
			ps = append(ps, problem{"content_variables", fmt.Sprintf(`variable name %q must be 1 to 16 letters, digits or "_", like "1"`, name)})
			continue
		}
		if _, err := channels.ParseParamSource(o.ContentVariables[name]); err != nil {
			ps = append(ps, problem{"content_variables." + name, err.Error()})
		}
	}
	return ps
}

// normalizeFrom returns the From Twilio expects for kind k.
func normalizeFrom(k channels.Kind, from string) (string, error) {
	if k == channels.WhatsApp {
		num := strings.TrimPrefix(from, whatsappPrefix)
		if !e164Re.MatchString(num) {
			return "", fmt.Errorf("%q is not a WhatsApp sender: want whatsapp:+E164 or +E164, e.g. whatsapp:+14155238886", from)
		}
		return whatsappPrefix + num, nil
	}
	if strings.HasPrefix(from, whatsappPrefix) {
		return "", fmt.Errorf("%q is a WhatsApp sender: use type %s for it", from, TypeWhatsApp)
	}
	if e164Re.MatchString(from) || shortCodeRe.MatchString(from) ||
		(alphaSenderRe.MatchString(from) && hasLetterRe.MatchString(from)) {
		return from, nil
	}
	return "", fmt.Errorf("%q is not an E.164 number (+14155552671), a short code or an alphanumeric sender ID", from)
}

// parseEndpoint accepts an absolute http(s) URL with an optional path
// prefix and nothing else.
func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q is not an http(s) base URL such as https://api.dublin.ie1.twilio.com or http://127.0.0.1:4010", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func init() {
	channels.Register(TypeSMS, factory(channels.SMS), channels.WebhookProvider(WebhookProvider))
	channels.Register(TypeWhatsApp, factory(channels.WhatsApp), channels.WebhookProvider(WebhookProvider))
}

func factory(k channels.Kind) channels.Factory {
	return func(cfg *config.Channel, deps channels.Deps) (channels.Channel, error) {
		key := "channels." + cfg.Name
		if cfg.Kind != "" && cfg.Kind != string(k) {
			return nil, &config.Error{File: cfg.File, Line: cfg.Line, Key: key + ".kind",
				Msg: fmt.Sprintf("type %s delivers to %s, not %q (leave kind out)", cfg.Type, k, cfg.Kind)}
		}
		var opts Options
		var errs config.Errors
		if err := cfg.DecodeOptions(&opts); err != nil && !errors.As(err, &errs) {
			return nil, err
		}
		// Validate after decode errors too, so one "config validate" shows
		// every problem; a key that failed to decode already has its error,
		// and so does what is under it (content_variables.1 under a
		// content_variables that is not a mapping).
		failed := map[string]bool{}
		for _, e := range errs {
			failed[e.Key] = true
		}
		for _, p := range opts.validate(k) {
			if p.key == "" {
				errs = append(errs, &config.Error{File: cfg.File, Line: cfg.Line, Key: key, Msg: p.msg})
				continue
			}
			parent, _, _ := strings.Cut(p.key, ".")
			if failed[key+"."+p.key] || failed[key+"."+parent] {
				continue
			}
			errs = append(errs, &config.Error{File: cfg.File, Line: cfg.OptionLine(p.key), Key: key + "." + p.key, Msg: p.msg})
		}
		if len(errs) > 0 {
			slices.SortStableFunc(errs, func(a, b *config.Error) int { return a.Line - b.Line })
			return nil, errs
		}
		return New(cfg.Name, k, opts, deps)
	}
}
