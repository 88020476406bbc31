package telegram_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/telegram"
	"github.com/switchboard-gw/switchboard/config"
)

const hookSecret = "hook_Secret-123"

func updateReq(body, secret string) *channels.WebhookRequest {
	h := http.Header{"Content-Type": {"application/json"}}
	if secret != "" {
		h.Set(telegram.SecretHeader, secret)
	}
	return &channels.WebhookRequest{Method: http.MethodPost, URL: "https://sb.example.com/v1/webhooks/telegram?channel=tg", Header: h, Body: []byte(body)}
}

func TestWebhookInboundUpdates(t *testing.T) {
	t.Parallel()
	ch := newChannel(t, "http://127.0.0.1:1", func(o *telegram.Options) { o.WebhookSecret = config.Secret(hookSecret) })
	tests := []struct {
		name string
		body string
		want []channels.Inbound
	}{
		{name: "text", body: `{"update_id":10,"message":{"message_id":7,"date":1749416383,"from":{"id":42,"is_bot":false,"first_name":"Ana"},
			"chat":{"id":42,"type":"private","first_name":"Ana"},"text":"hello"}}`,
			want: []channels.Inbound{{From: "42", To: "123456789", Text: "hello", ProviderID: "42:7", ReceivedAt: time.Unix(1749416383, 0).UTC()}}},
		{name: "reply", body: `{"update_id":11,"message":{"message_id":8,"date":1749416390,"chat":{"id":-1001234567890,"type":"supergroup"},
			"text":"STOP","reply_to_message":{"message_id":5,"date":1749416000,"chat":{"id":-1001234567890,"type":"supergroup"},"text":"Your code"}}}`,
			want: []channels.Inbound{{From: "-1001234567890", To: "123456789", Text: "STOP", ProviderID: "-1001234567890:8",
				ReplyToProviderID: "-1001234567890:5", ReceivedAt: time.Unix(1749416390, 0).UTC()}}},
		{name: "edited message is acknowledged", body: `{"update_id":12,"edited_message":{"message_id":7,"chat":{"id":42},"text":"hi"}}`},
		{name: "sticker without text", body: `{"update_id":13,"message":{"message_id":9,"chat":{"id":42},"sticker":{"file_id":"x"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, rs, in, err := ch.WebhookInbound(t.Context(), updateReq(tt.body, hookSecret))
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.Status)
			require.Empty(t, rs)
			for i := range tt.want {
				tt.want[i].Channel = "tg"
			}
			require.Equal(t, tt.want, in)
		})
	}
}

func TestWebhookInboundSecret(t *testing.T) {
	t.Parallel()
	body := `{"update_id":10,"message":{"message_id":7,"chat":{"id":42},"text":"STOP"}}`
	with := newChannel(t, "http://127.0.0.1:1", func(o *telegram.Options) { o.WebhookSecret = config.Secret(hookSecret) })
	without := newChannel(t, "http://127.0.0.1:1")
	for name, c := range map[string]struct {
		ch     *telegram.Channel
		secret string
	}{
		"missing header":      {with, ""},
		"wrong secret":        {with, "guess"},
		"secret prefix":       {with, hookSecret[:4]},
		"no secret in config": {without, hookSecret},
	} {
		_, _, in, err := c.ch.WebhookInbound(t.Context(), updateReq(body, c.secret))
		require.True(t, errors.Is(err, channels.ErrBadSignature), "%s: %v", name, err)
		require.Empty(t, in, name)
	}
}
