package whatsappcloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/config"
)

// Type is the channel type's name in YAML.
const Type = "whatsapp-cloud"

// MaxBodyChars is the Cloud API's limit on a text message body, in
// characters. Longer bodies are refused before any call, as permanent.
const MaxBodyChars = 4096

// maxResponse bounds how much of a Graph answer is read.
const maxResponse = 1 << 20

var (
	_ channels.Channel         = (*Cloud)(nil)
	_ channels.WebhookReceiver = (*Cloud)(nil)
)

func init() {
	// Meta calls back at the gateway's webhook route for this type's name
	// (see the package doc, "Webhook").
	channels.Register(Type, build, channels.WebhookProvider(Type))
}

func build(cfg *config.Channel, deps channels.Deps) (channels.Channel, error) {
	if cfg.Kind != "" && cfg.Kind != string(channels.WhatsApp) {
		return nil, &config.Error{File: cfg.File, Line: cfg.Line, Key: "channels." + cfg.Name + ".kind",
			Msg: fmt.Sprintf("type %s delivers to whatsapp, not %q (leave kind out)", Type, cfg.Kind)}
	}
	opts := DefaultOptions()
	var errs config.Errors
	if err := cfg.DecodeOptions(&opts); err != nil {
		if !errors.As(err, &errs) {
			return nil, err
		}
	}
	// Validate even after decode errors so one run of "config validate"
	// shows every problem. A key that failed to decode keeps its default
	// (or stays empty); the "required" complaint that can follow is true.
	// Inside a nested option (template) the decoder's complaint about the
	// option itself ("expected a mapping", an unknown key) says enough:
	// its "required" follow-ups are left out.
	chKey := "channels." + cfg.Name
	for _, p := range opts.validate() {
		key := chKey + "." + p.key
		if slices.ContainsFunc(errs, func(e *config.Error) bool {
			return e.Key == key || (e.Key != chKey && (strings.HasPrefix(key, e.Key+".") || strings.HasPrefix(key, e.Key+"[")))
		}) {
			continue // already reported by the decoder
		}
		errs = append(errs, &config.Error{File: cfg.File, Line: cfg.OptionLine(p.key), Key: key, Msg: p.err.Error()})
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *config.Error) int { return a.Line - b.Line })
		return nil, errs
	}
	return New(cfg.Name, opts, deps)
}

// Cloud is one WhatsApp Business phone number on Meta's Cloud API.
type Cloud struct {
	name   string
	opts   Options
	base   string    // endpoint/version/<the probe's phone number id>
	tmpl   *template // nil: free-form text
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	quality atomic.Pointer[string] // the last probe's quality_rating, to log changes only
}

// New builds a channel from already-decoded options; the YAML path goes
// through the registered factory. It does no network I/O.
func New(name string, opts Options, deps channels.Deps) (*Cloud, error) {
	if ps := opts.validate(); len(ps) > 0 {
		return nil, fmt.Errorf("%s: %w", ps[0].key, ps[0].err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	var tmpl *template
	if opts.Template != nil {
		tmpl = opts.Template.compile()
	}
	return &Cloud{
		name: name,
		opts: opts,
		base: opts.base(opts.probeID()),
		tmpl: tmpl,
		// No client timeout: every call runs under the caller's ctx
		// (the channel's send_timeout, the probe interval).
		client: &http.Client{},
		log:    deps.Logger.With("channel", name, "type", Type),
		now:    time.Now,
	}, nil
}

func (c *Cloud) Name() string        { return c.name }
func (c *Cloud) Kind() channels.Kind { return channels.WhatsApp }

// sendRequest is a Cloud API message: free-form text or a template.
type sendRequest struct {
	MessagingProduct string        `json:"messaging_product"`
	RecipientType    string        `json:"recipient_type"`
	To               string        `json:"to"`
	Type             string        `json:"type"` // "text" or "template"
	Text             *textBody     `json:"text,omitempty"`
	Template         *templateBody `json:"template,omitempty"`
}

type textBody struct {
	PreviewURL bool   `json:"preview_url"`
	Body       string `json:"body"`
}

type sendResponse struct {
	Contacts []struct {
		Input string `json:"input"`
		WaID  string `json:"wa_id"`
	} `json:"contacts"`
	Messages []struct {
		ID            string `json:"id"`
		MessageStatus string `json:"message_status"`
	} `json:"messages"`
}

// Send makes one attempt to send m: as the configured template, or else
// as a free-form text message. Meta only delivers free-form text inside
// the 24-hour customer service window; outside it the answer is 131047, a
// permanent error, and routing fails over.
func (c *Cloud) Send(ctx context.Context, m *channels.Message) (channels.Result, error) {
	to, err := recipient(m.To)
	if err != nil {
		return channels.Result{}, channels.Classify(channels.Permanent, fmt.Errorf("whatsapp-cloud: send: %w", err))
	}
	id, err := c.idFor(m.To)
	if err != nil {
		return channels.Result{}, fmt.Errorf("whatsapp-cloud: send: %w", err)
	}
	req := sendRequest{MessagingProduct: "whatsapp", RecipientType: "individual", To: to}
	if c.tmpl != nil {
		// The body is sent only as a parameter, if one takes it: the
		// text limits below are the free-form message's.
		tb, err := c.tmpl.fill(m)
		if err != nil {
			return channels.Result{}, channels.Classify(channels.Permanent, fmt.Errorf("whatsapp-cloud: send: %w", err))
		}
		req.Type, req.Template = "template", tb
	} else {
		if m.Body == "" {
			return channels.Result{}, channels.Classify(channels.Permanent, errors.New("whatsapp-cloud: send: empty body"))
		}
		if n := utf8.RuneCountInString(m.Body); n > MaxBodyChars {
			return channels.Result{}, channels.Classify(channels.Permanent,
				fmt.Errorf("whatsapp-cloud: send: body is %d characters, the Cloud API takes at most %d", n, MaxBodyChars))
		}
		req.Type, req.Text = "text", &textBody{Body: m.Body}
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return channels.Result{}, channels.Classify(channels.Permanent, fmt.Errorf("whatsapp-cloud: send: encode: %w", err))
	}

	var wt channels.WriteTracker
	hreq, err := http.NewRequestWithContext(wt.Context(ctx), http.MethodPost, c.opts.base(id)+"/messages", bytes.NewReader(payload))
	if err != nil {
		return channels.Result{}, channels.Classify(channels.Misconfigured, fmt.Errorf("whatsapp-cloud: send: %w", err))
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, body, err := c.do(hreq)
	if err != nil {
		return channels.Result{Sender: id}, channels.TransportError("whatsapp-cloud: send", err, wt.Wrote())
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return channels.Result{Sender: id}, apiError("send", resp, body, c.opts.Token.Reveal(), c.now())
	}
	// A 2xx means Meta took the message; an answer we cannot read does
	// not change that, so a retry may send twice: ambiguous.
	var sr sendResponse
	if err := json.Unmarshal(body, &sr); err != nil {
		return channels.Result{}, channels.Classify(channels.Ambiguous,
			fmt.Errorf("whatsapp-cloud: send: HTTP %d with an unreadable body: %w", resp.StatusCode, err))
	}
	if len(sr.Messages) == 0 || sr.Messages[0].ID == "" {
		return channels.Result{}, channels.Classify(channels.Ambiguous,
			fmt.Errorf("whatsapp-cloud: send: HTTP %d without a message id", resp.StatusCode))
	}
	res := channels.Result{ProviderID: sr.Messages[0].ID, Sender: id}
	var info []string
	if c.tmpl != nil {
		info = append(info, "template "+c.tmpl.name)
	}
	if len(sr.Contacts) > 0 && sr.Contacts[0].WaID != "" {
		info = append(info, "wa_id "+sr.Contacts[0].WaID)
	}
	if s := sr.Messages[0].MessageStatus; s != "" {
		info = append(info, s)
	}
	res.Info = strings.Join(info, ", ")
	return res, nil
}

// recipient turns an E.164 address ("+15551234567") into the Cloud API's
// "to": the digits without "+".
func recipient(addr string) (string, error) {
	d := strings.TrimPrefix(strings.TrimSpace(addr), "+")
	if len(d) < 7 || len(d) > 15 || !digitsRe.MatchString(d) {
		return "", fmt.Errorf("recipient %q is not an E.164 phone number such as +15551234567", addr)
	}
	return d, nil
}

// Probe fetches the business phone number's id, display number and
// quality rating: it checks the token, the phone_number_id and Graph's
// reachability, and costs no message. Since a probe carries no message,
// an error that would be permanent for a send (code 100: no such phone
// number id) means the channel's config is wrong: misconfigured.
func (c *Cloud) Probe(ctx context.Context) error {
	q := url.Values{"fields": {"id,display_phone_number,quality_rating"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"?"+q.Encode(), nil)
	if err != nil {
		return channels.Classify(channels.Misconfigured, fmt.Errorf("whatsapp-cloud: probe: %w", err))
	}
	resp, body, err := c.do(req)
	if err != nil {
		// A GET changes nothing: never ambiguous.
		return channels.TransportError("whatsapp-cloud: probe", err, false)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		err := apiError("probe", resp, body, c.opts.Token.Reveal(), c.now())
		var ce *channels.Error
		if errors.As(err, &ce) && ce.Class == channels.Permanent {
			ce.Class = channels.Misconfigured
		}
		return err
	}
	var pn struct {
		ID                 string `json:"id"`
		DisplayPhoneNumber string `json:"display_phone_number"`
		QualityRating      string `json:"quality_rating"`
	}
	if err := json.Unmarshal(body, &pn); err != nil {
		return channels.Classify(channels.Transient, fmt.Errorf("whatsapp-cloud: probe: unreadable answer: %w", err))
	}
	if want := c.opts.probeID(); pn.ID != want {
		return channels.Classify(channels.Misconfigured,
			fmt.Errorf("whatsapp-cloud: probe: asked for phone number id %s, Graph answered for %q", want, pn.ID))
	}
	// A RED rating still sends, with lower limits ahead: worth a log line
	// when it changes, not a down channel.
	if old := c.quality.Swap(&pn.QualityRating); old == nil || *old != pn.QualityRating {
		lvl := slog.LevelInfo
		if pn.QualityRating == "RED" {
			lvl = slog.LevelWarn
		}
		c.log.Log(ctx, lvl, "whatsapp-cloud phone number quality rating", "quality_rating", pn.QualityRating,
			"display_phone_number", pn.DisplayPhoneNumber)
	}
	return nil
}

// do sends req with the bearer token and reads the whole (bounded) answer.
// A success whose body is lost mid-way is a transport error (ambiguous for
// a send), not a parse error.
func (c *Cloud) do(req *http.Request) (*http.Response, []byte, error) {
	req.Header.Set("Authorization", "Bearer "+c.opts.Token.Reveal())
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil, nil, err
	}
	// An error status says enough even when its body was cut short.
	return resp, body, nil
}
