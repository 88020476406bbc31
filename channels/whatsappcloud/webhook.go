package whatsappcloud

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
)

// SignatureHeader carries "sha256=" + hex(HMAC-SHA256(app secret, raw body))
// on every webhook POST.
const SignatureHeader = "X-Hub-Signature-256"

// Webhook answers Meta's GET verification handshake and turns signed POST
// notifications into receipts: entry[].changes[].value.statuses[] become
// sent, delivered, read and failed receipts; inbound messages and other
// fields are acknowledged and ignored.
func (c *Cloud) Webhook(_ context.Context, r *channels.WebhookRequest) (channels.WebhookResponse, []channels.Receipt, error) {
	switch r.Method {
	case http.MethodGet:
		return c.verify(r)
	case http.MethodPost:
		if err := c.checkSignature(r); err != nil {
			return channels.WebhookResponse{}, nil, err
		}
		rs, err := c.receipts(r.Body)
		if err != nil {
			return channels.WebhookResponse{}, nil, err
		}
		return channels.WebhookResponse{Status: http.StatusOK}, rs, nil
	}
	return channels.WebhookResponse{}, nil, fmt.Errorf("whatsapp-cloud webhook: method %s not supported (want GET or POST)", r.Method)
}

// verify is the subscription handshake Meta runs when the callback URL or
// verify token is saved in the app dashboard:
// GET ?hub.mode=subscribe&hub.challenge=N&hub.verify_token=T, answered with
// N as the whole body.
func (c *Cloud) verify(r *channels.WebhookRequest) (channels.WebhookResponse, []channels.Receipt, error) {
	if mode := r.Query.Get("hub.mode"); mode != "subscribe" {
		return channels.WebhookResponse{}, nil, fmt.Errorf("whatsapp-cloud webhook: hub.mode is %q, want \"subscribe\"", mode)
	}
	if c.opts.VerifyToken == "" {
		return channels.WebhookResponse{}, nil, fmt.Errorf("whatsapp-cloud webhook: verification refused: verify_token is not configured: %w", channels.ErrBadSignature)
	}
	if !equalSecret(r.Query.Get("hub.verify_token"), c.opts.VerifyToken.Reveal()) {
		return channels.WebhookResponse{}, nil, fmt.Errorf("whatsapp-cloud webhook: hub.verify_token does not match verify_token: %w", channels.ErrBadSignature)
	}
	challenge := r.Query.Get("hub.challenge")
	if challenge == "" {
		return channels.WebhookResponse{}, nil, errors.New("whatsapp-cloud webhook: hub.challenge is missing")
	}
	c.log.Info("whatsapp-cloud webhook verified by Meta")
	return channels.WebhookResponse{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte(challenge)}, nil, nil
}

// equalSecret compares in constant time, also in the length: both sides
// are hashed first, since subtle.ConstantTimeCompare returns early on a
// length mismatch.
func equalSecret(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

func (c *Cloud) checkSignature(r *channels.WebhookRequest) error {
	if c.opts.AppSecret == "" {
		return fmt.Errorf("whatsapp-cloud webhook: cannot check %s: app_secret is not configured: %w", SignatureHeader, channels.ErrBadSignature)
	}
	h := r.Header.Get(SignatureHeader)
	if h == "" {
		return fmt.Errorf("whatsapp-cloud webhook: %s is missing: %w", SignatureHeader, channels.ErrBadSignature)
	}
	hexSig, ok := strings.CutPrefix(h, "sha256=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil {
		return fmt.Errorf("whatsapp-cloud webhook: %s is not \"sha256=<hex>\": %w", SignatureHeader, channels.ErrBadSignature)
	}
	mac := hmac.New(sha256.New, []byte(c.opts.AppSecret.Reveal()))
	mac.Write(r.Body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("whatsapp-cloud webhook: %s does not match the body: %w", SignatureHeader, channels.ErrBadSignature)
	}
	return nil
}

// notification is the part of a webhook POST this channel reads.
type notification struct {
	Object string `json:"object"`
	Entry  []struct {
		ID      string `json:"id"` // the WhatsApp Business Account id
		Changes []struct {
			Field string `json:"field"`
			Value struct {
				Metadata struct {
					PhoneNumberID      string `json:"phone_number_id"`
					DisplayPhoneNumber string `json:"display_phone_number"`
				} `json:"metadata"`
				Statuses []status         `json:"statuses"`
				Messages []inboundMessage `json:"messages"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

type status struct {
	ID          string `json:"id"` // the wamid Send returned
	Status      string `json:"status"`
	Timestamp   string `json:"timestamp"` // unix seconds, as a string
	RecipientID string `json:"recipient_id"`
	// Pricing: whether Meta bills the message and its category. It carries
	// no amount: routing prices the category from the channel's declared
	// cost (see pricing.go).
	Pricing *pricing `json:"pricing"`
	Errors  []struct {
		Code      int    `json:"code"`
		Title     string `json:"title"`
		Message   string `json:"message"`
		ErrorData struct {
			Details string `json:"details"`
		} `json:"error_data"`
	} `json:"errors"`
}

var statusMap = map[string]channels.ReceiptStatus{
	"sent":      channels.ReceiptSent,
	"delivered": channels.ReceiptDelivered,
	"read":      channels.ReceiptRead,
	"failed":    channels.ReceiptFailed,
}

func (c *Cloud) receipts(body []byte) ([]channels.Receipt, error) {
	var n notification
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("whatsapp-cloud webhook: malformed body: %w", err)
	}
	var out []channels.Receipt
	for _, e := range n.Entry {
		for _, ch := range e.Changes {
			v := ch.Value
			// One Meta app can serve several numbers; a status for
			// another number is not this channel's to report.
			if id := v.Metadata.PhoneNumberID; id != "" && !c.ownsID(id) {
				c.log.Warn("whatsapp-cloud webhook: statuses for another phone number ignored; give each number its own callback URL",
					"phone_number_id", id, "statuses", len(v.Statuses))
				continue
			}
			for _, s := range v.Statuses {
				st, ok := statusMap[s.Status]
				if !ok || s.ID == "" {
					continue // "deleted", "warning" and future statuses say nothing about delivery
				}
				r := channels.Receipt{Channel: c.name, ProviderID: s.ID, Status: st, At: c.at(s.Timestamp)}
				if st == channels.ReceiptFailed {
					r.Error = failure(s)
				}
				r.Price = s.Pricing.price()
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// at reads a status timestamp. Meta signs the body, so an odd timestamp is
// Meta's slip, not an attack: the receipt is kept, stamped with now.
func (c *Cloud) at(ts string) time.Time {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return c.now()
	}
	return time.Unix(sec, 0)
}

func failure(s status) string {
	if len(s.Errors) == 0 {
		return "failed (no error given)"
	}
	e := s.Errors[0]
	title := e.Title
	if title == "" {
		title = e.Message
	}
	text := strings.TrimSpace(fmt.Sprintf("%d %s", e.Code, title))
	if d := e.ErrorData.Details; d != "" && d != title {
		text += ": " + d
	}
	return clip(text)
}
