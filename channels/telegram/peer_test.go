package telegram_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-gw/switchboard/channels"
	"github.com/switchboard-gw/switchboard/channels/telegram"
	"github.com/switchboard-gw/switchboard/config"
	"github.com/switchboard-gw/switchboard/internal/testpeers"
)

// Tests here talk to telegram-test-api, an independent Bot API emulator.
// Each test uses its own bot token: the emulator keeps messages per token,
// so parallel tests cannot read each other's.

// peerMessage is what telegram-test-api stored for one message a bot sent
// (the raw sendMessage parameters, as strings).
type peerMessage struct {
	MessageID int `json:"messageId"`
	Message   struct {
		ChatID              string `json:"chat_id"`
		Text                string `json:"text"`
		ParseMode           string `json:"parse_mode"`
		DisableNotification string `json:"disable_notification"`
	} `json:"message"`
}

// chatMessages reads, as the emulator's client side does for a user in a
// chat, the bot's messages to chatID not read before (POST /getUpdates with
// the bot token and chat id).
func chatMessages(t *testing.T, base, token, chatID string) []peerMessage {
	t.Helper()
	body, err := json.Marshal(map[string]string{"token": token, "chatId": chatID})
	require.NoError(t, err)
	resp, err := http.Post(base+"/getUpdates", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct {
		OK     bool          `json:"ok"`
		Result []peerMessage `json:"result"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.True(t, out.OK)
	return out.Result
}

func peerChannel(t *testing.T, token string, mutate ...func(*telegram.Options)) (*telegram.Channel, string) {
	t.Helper()
	base := testpeers.Telegram(t)
	opts := telegram.DefaultOptions()
	opts.Token = config.Secret(token)
	opts.Endpoint = base
	for _, f := range mutate {
		f(&opts)
	}
	ch, err := telegram.New("tg", opts, channels.Deps{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ch.Close()) })
	return ch, base
}

func TestPeerSend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, token, to string
		mode            string
		silent          bool
		body            string
	}{
		{name: "plain text to a user", token: "700001:peer-plain", to: "424242", body: "Your code is 123456. Don't share it!"},
		{name: "plain text to a group", token: "700002:peer-group", to: "-1001234567890", body: "Order #42 shipped 😀"},
		{name: "to a channel username", token: "700003:peer-channel", to: "@switchboard_news", body: "Maintenance tonight", silent: true},
		{name: "HTML", token: "700004:peer-html", to: "424242", mode: telegram.ParseModeHTML, body: "<b>5 > 3</b> & AT&T"},
		{name: "MarkdownV2", token: "700005:peer-md", to: "424242", mode: telegram.ParseModeMarkdownV2, body: "*not bold* (1.5 - 2) = #3!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch, base := peerChannel(t, tt.token, func(o *telegram.Options) {
				o.ParseMode = tt.mode
				o.DisableNotification = tt.silent
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := ch.Send(ctx, &channels.Message{ID: "m-" + tt.token, To: tt.to, Body: tt.body})
			require.NoError(t, err)
			require.True(t, res.Delivered)

			got := chatMessages(t, base, tt.token, tt.to)
			require.Len(t, got, 1)
			msg := got[0]
			require.Equal(t, tt.to, msg.Message.ChatID)
			// Sent as escaped for the mode, so Telegram shows the body itself.
			require.Equal(t, telegram.EscapeText(tt.mode, tt.body), msg.Message.Text)
			require.Equal(t, tt.mode, msg.Message.ParseMode)
			if tt.silent {
				require.Equal(t, "true", msg.Message.DisableNotification)
			} else {
				require.Empty(t, msg.Message.DisableNotification, "tgbotapi leaves false out")
			}
			require.Equal(t, fmt.Sprintf("%s:%d", tt.to, msg.MessageID), res.ProviderID)
		})
	}
}

// The HTML mode sends the text exactly as escaped, and the emulator keeps it
// byte for byte: what a client renders is the body.
func TestPeerHTMLArrivesAsSent(t *testing.T) {
	t.Parallel()
	const token = "700006:peer-html-exact"
	ch, base := peerChannel(t, token, func(o *telegram.Options) { o.ParseMode = telegram.ParseModeHTML })
	_, err := ch.Send(context.Background(), &channels.Message{To: "777", Body: "if a < b && c > d { return \"ok\" }"})
	require.NoError(t, err)
	got := chatMessages(t, base, token, "777")
	require.Len(t, got, 1)
	require.Equal(t, `if a &lt; b &amp;&amp; c &gt; d { return "ok" }`, got[0].Message.Text)
	require.Equal(t, "HTML", got[0].Message.ParseMode)
}

func TestPeerProbe(t *testing.T) {
	t.Parallel()
	ch, _ := peerChannel(t, "700007:peer-probe")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, ch.Probe(ctx))
}
