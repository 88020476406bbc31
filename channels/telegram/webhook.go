package telegram

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-gw/switchboard/channels"
)

// WebhookProvider is the {provider} of the API's webhook route for
// Telegram updates: setWebhook's url is channels.WebhookURL(public URL,
// WebhookProvider, channel name).
const WebhookProvider = "telegram"

// SecretHeader carries setWebhook's secret_token on every update.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

var _ channels.InboundReceiver = (*Channel)(nil)

// update is the part of a Telegram Update this channel reads.
type update struct {
	UpdateID int64 `json:"update_id"`
	Message  *struct {
		MessageID int64 `json:"message_id"`
		Date      int64 `json:"date"`
		Chat      struct {
			ID int64 `json:"id"`
		} `json:"chat"`
		Text           string `json:"text"`
		ReplyToMessage *struct {
			MessageID int64 `json:"message_id"`
		} `json:"reply_to_message"`
	} `json:"message"`
}

// Webhook takes an update; Telegram sends no delivery reports, so there
// are never receipts.
func (c *Channel) Webhook(ctx context.Context, r *channels.WebhookRequest) (channels.WebhookResponse, []channels.Receipt, error) {
	resp, rs, _, err := c.WebhookInbound(ctx, r)
	return resp, rs, err
}

// WebhookInbound checks an update's secret token and reads the text
// message it carries, if any: the chat id is the sender's address (what
// a message's telegram field holds), and ids are "<chat id>:<message_id>"
// as Send's ProviderID, so a reply_to_message names the outbound one.
// Other updates (edits, channel posts, callback queries) are acknowledged.
func (c *Channel) WebhookInbound(_ context.Context, r *channels.WebhookRequest) (channels.WebhookResponse, []channels.Receipt, []channels.Inbound, error) {
	if r.Method != http.MethodPost {
		return channels.WebhookResponse{}, nil, nil, fmt.Errorf("telegram webhook: method %s not supported (want POST)", r.Method)
	}
	if c.opts.WebhookSecret == "" {
		return channels.WebhookResponse{}, nil, nil, fmt.Errorf("telegram webhook: refused: webhook_secret is not configured: %w", channels.ErrBadSignature)
	}
	if !equalSecret(r.Header.Get(SecretHeader), c.opts.WebhookSecret.Reveal()) {
		return channels.WebhookResponse{}, nil, nil, fmt.Errorf("telegram webhook: %s does not match webhook_secret: %w", SecretHeader, channels.ErrBadSignature)
	}
	var u update
	if err := json.Unmarshal(r.Body, &u); err != nil {
		return channels.WebhookResponse{}, nil, nil, fmt.Errorf("telegram webhook: malformed update: %w", err)
	}
	ok := channels.WebhookResponse{Status: http.StatusOK}
	m := u.Message
	if m == nil || m.Text == "" || m.Chat.ID == 0 {
		return ok, nil, nil, nil
	}
	chat := strconv.FormatInt(m.Chat.ID, 10)
	in := channels.Inbound{
		Channel:    c.name,
		From:       chat,
		To:         c.botID(),
		Text:       m.Text,
		ProviderID: chat + ":" + strconv.FormatInt(m.MessageID, 10),
		ReceivedAt: time.Now().UTC(),
	}
	if m.Date > 0 {
		in.ReceivedAt = time.Unix(m.Date, 0).UTC()
	}
	if m.ReplyToMessage != nil {
		in.ReplyToProviderID = chat + ":" + strconv.FormatInt(m.ReplyToMessage.MessageID, 10)
	}
	return ok, nil, []channels.Inbound{in}, nil
}

// botID is the bot's numeric id, the part of the token before the colon
// (not secret: it is the bot's user id).
func (c *Channel) botID() string {
	id, _, _ := strings.Cut(c.opts.Token.Reveal(), ":")
	return id
}

// equalSecret compares in constant time, also in the length.
func equalSecret(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
