package whatsappcloud

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchboard-gw/switchboard/channels"
)

var _ channels.InboundReceiver = (*Cloud)(nil)

// inboundMessage is one entry of a messages notification: what a person
// sent to the business number.
type inboundMessage struct {
	From      string `json:"from"` // the sender's number, digits without "+"
	ID        string `json:"id"`   // its wamid
	Timestamp string `json:"timestamp"`
	Type      string `json:"type"`
	Text      struct {
		Body string `json:"body"`
	} `json:"text"`
	// Button is a tap on a template's quick-reply button: its text is
	// what the person "said" (often STOP).
	Button struct {
		Text string `json:"text"`
	} `json:"button"`
	// Context is set on a reply: id is the wamid of the message replied to.
	Context struct {
		ID string `json:"id"`
	} `json:"context"`
}

// WebhookInbound is Webhook that also returns the messages people sent:
// Meta delivers statuses and messages on the same signed webhook
// (field "messages"). Text messages and quick-reply buttons are taken;
// media, reactions and the rest carry no text and are acknowledged.
func (c *Cloud) WebhookInbound(ctx context.Context, r *channels.WebhookRequest) (channels.WebhookResponse, []channels.Receipt, []channels.Inbound, error) {
	resp, rs, err := c.Webhook(ctx, r)
	if err != nil || r.Method != http.MethodPost {
		return resp, rs, nil, err
	}
	in, err := c.inbound(r.Body)
	if err != nil {
		return channels.WebhookResponse{}, nil, nil, err
	}
	return resp, rs, in, nil
}

// inbound reads the messages of a verified notification.
func (c *Cloud) inbound(body []byte) ([]channels.Inbound, error) {
	var n notification
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("whatsapp-cloud webhook: malformed body: %w", err)
	}
	var out []channels.Inbound
	for _, e := range n.Entry {
		for _, ch := range e.Changes {
			v := ch.Value
			if id := v.Metadata.PhoneNumberID; id != "" && !c.ownsID(id) {
				if len(v.Messages) > 0 {
					c.log.Warn("whatsapp-cloud webhook: messages for another phone number ignored; give each number its own callback URL",
						"phone_number_id", id, "messages", len(v.Messages))
				}
				continue
			}
			for _, m := range v.Messages {
				text := m.Text.Body
				switch m.Type {
				case "text":
				case "button":
					text = m.Button.Text
				default:
					c.log.Debug("whatsapp-cloud webhook: inbound message without text ignored", "type", m.Type)
					continue
				}
				if m.From == "" || m.ID == "" {
					continue
				}
				out = append(out, channels.Inbound{
					Channel:           c.name,
					From:              e164(m.From),
					To:                e164(v.Metadata.DisplayPhoneNumber),
					Text:              text,
					ProviderID:        m.ID,
					ReplyToProviderID: m.Context.ID,
					ReceivedAt:        c.at(m.Timestamp).UTC(),
				})
			}
		}
	}
	return out, nil
}

// e164 writes a number as Meta gives it (digits, "15551234567", or a
// display form, "+1 555-123-4567") in E.164, as message addresses are.
func e164(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "+" + b.String()
}
