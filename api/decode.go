package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchboard-gw/switchboard/callbacks"
	"github.com/switchboard-gw/switchboard/store"
)

// SendRequest is the body of POST /v1/messages and POST /v1/routes/explain.
type SendRequest struct {
	To          store.Recipient   `json:"to"`
	Body        string            `json:"body"`
	Subject     string            `json:"subject,omitempty"`
	HTML        string            `json:"html,omitempty"`
	Policy      string            `json:"policy,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	TTL         string            `json:"ttl,omitempty"`
	SendAt      string            `json:"send_at,omitempty"` // RFC 3339; see schedule.go
	CallbackURL string            `json:"callback_url,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`

	ttl    time.Duration
	sendAt time.Time
}

// Limits on a send request. Bodies are bounded by the server's
// max_body_bytes first; these keep single fields sane.
const (
	maxBodyChars    = 32 * 1024
	maxSubjectChars = 998 // RFC 5322 line limit
	maxTags         = 32
	maxTagLen       = 64
	maxMetadataKeys = 32
	maxMetadataLen  = 512
	maxTTL          = 7 * 24 * time.Hour
)

var (
	e164       = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	telegramID = regexp.MustCompile(`^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$`)
)

// readBody reads a size-limited request body.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return nil, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "", "Content-Type must be application/json, got %q", ct)
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, badRequest("invalid_body", "", "could not read the request body")
	}
	if int64(len(data)) > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "body_too_large", "", "request body is larger than %d bytes", limit)
	}
	return data, nil
}

// DecodeSendRequest parses and validates a send request. Every error is an
// *Error naming the offending field. The parse is strict (strictJSON): an
// unknown field, a field name in the wrong case and a key given twice are
// all refused, each naming the field.
func DecodeSendRequest(data []byte) (*SendRequest, error) {
	var req SendRequest
	if err := decodeStrict(data, &req); err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	return &req, nil
}

func (r *SendRequest) validate() error {
	r.To.Phone = strings.TrimSpace(r.To.Phone)
	r.To.WhatsApp = strings.TrimPrefix(strings.TrimSpace(r.To.WhatsApp), "whatsapp:")
	r.To.Email = strings.TrimSpace(r.To.Email)
	r.To.Telegram = strings.TrimSpace(r.To.Telegram)
	if r.To == (store.Recipient{}) {
		return unprocessable("no_recipient", "to", "give at least one of to.phone, to.whatsapp, to.email, to.telegram")
	}
	if r.To.Phone != "" && !e164.MatchString(r.To.Phone) {
		return unprocessable("invalid_recipient", "to.phone", "phone must be E.164, like +15551234567")
	}
	if r.To.WhatsApp != "" && !e164.MatchString(r.To.WhatsApp) {
		return unprocessable("invalid_recipient", "to.whatsapp", "whatsapp must be an E.164 phone number, like +15551234567")
	}
	if r.To.Email != "" {
		a, err := mail.ParseAddress(r.To.Email)
		if err != nil || a.Address != r.To.Email || !strings.Contains(a.Address[strings.LastIndexByte(a.Address, '@')+1:], ".") {
			return unprocessable("invalid_recipient", "to.email", "email must be a plain address, like ana@example.com")
		}
	}
	if r.To.Telegram != "" && !telegramID.MatchString(r.To.Telegram) {
		return unprocessable("invalid_recipient", "to.telegram", "telegram must be a numeric chat id or an @channel username")
	}
	if strings.TrimSpace(r.Body) == "" {
		return unprocessable("missing_field", "body", "body is required")
	}
	if !utf8.ValidString(r.Body) {
		return unprocessable("invalid_field", "body", "body must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(r.Body); n > maxBodyChars {
		return unprocessable("invalid_field", "body", "body has %d characters; the limit is %d", n, maxBodyChars)
	}
	if n := utf8.RuneCountInString(r.Subject); n > maxSubjectChars || strings.ContainsAny(r.Subject, "\r\n") {
		return unprocessable("invalid_field", "subject", "subject must be one line of at most %d characters", maxSubjectChars)
	}
	if !utf8.ValidString(r.HTML) {
		return unprocessable("invalid_field", "html", "html must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(r.HTML); n > maxBodyChars {
		return unprocessable("invalid_field", "html", "html has %d characters; the limit is %d", n, maxBodyChars)
	}
	if len(r.Tags) > maxTags {
		return unprocessable("invalid_field", "tags", "at most %d tags", maxTags)
	}
	for i, t := range r.Tags {
		if t == "" || len(t) > maxTagLen {
			return unprocessable("invalid_field", fmt.Sprintf("tags[%d]", i), "tags must be 1 to %d bytes", maxTagLen)
		}
	}
	if r.TTL != "" {
		d, err := time.ParseDuration(r.TTL)
		if err != nil || d <= 0 || d > maxTTL {
			return unprocessable("invalid_ttl", "ttl", "ttl must be a duration between 1s and %s, like \"10m\" or \"2h\"", maxTTL)
		}
		r.ttl = d
	}
	if err := r.parseSendAt(); err != nil {
		return err
	}
	if r.CallbackURL != "" {
		u, err := url.Parse(r.CallbackURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return unprocessable("invalid_field", "callback_url", "callback_url must be an absolute http or https URL")
		}
	}
	if len(r.Metadata) > maxMetadataKeys {
		return unprocessable("invalid_field", "metadata", "at most %d metadata keys", maxMetadataKeys)
	}
	for k, v := range r.Metadata {
		if k == "" || len(k) > maxTagLen || len(v) > maxMetadataLen {
			return unprocessable("invalid_field", "metadata."+k, "metadata keys must be 1 to %d bytes and values at most %d", maxTagLen, maxMetadataLen)
		}
	}
	return nil
}

// checkCallbackAddress refuses a callback_url whose host is a literal IP
// address that p, the callback address policy in force, does not allow,
// so the app hears of it at once (422) rather than finding its callbacks
// given up. A host name is not looked up here: what it resolves to now
// says nothing about what it will resolve to at delivery, so the sender
// checks the address of every connection it opens (callbacks.Sender).
func (r *SendRequest) checkCallbackAddress(p *callbacks.AddressPolicy) error {
	if r.CallbackURL == "" {
		return nil
	}
	u, err := url.Parse(r.CallbackURL)
	if err != nil {
		return nil // validate has refused it
	}
	ip, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return nil // a host name
	}
	var blocked *callbacks.BlockedAddressError
	if err := p.Allowed(ip, u.Hostname()); errors.As(err, &blocked) {
		return unprocessable("invalid_field", "callback_url", "%s", blocked.Error())
	}
	return nil
}
